import { Runtime } from '../src/runtime/runtime.js';

/** FNV-1a over the raw bytes of float32 results (no NaN may appear: engines may differ in NaN bits). */
export function hashF32(h: number, a: Float32Array): number {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 16777619) >>> 0;
  return h;
}

/**
 * A fixed workload touching every numeric family (filled in as kernels land): returns a
 * hex hash of all results. Node and Chromium must produce the same string.
 */
export function parityWorkload(rt: Runtime): string {
  let h = 2166136261;
  const p = rt.allocF32(64);
  rt.f32.fill(0.5, p >>> 2, (p >>> 2) + 64);
  h = hashF32(h, rt.f32.slice(p >>> 2, (p >>> 2) + 64));
  rt.free(p);
  return h.toString(16).padStart(8, '0');
}
