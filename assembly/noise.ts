// Counter-based random numbers: Threefry-2x32 with 20 rounds (Salmon, Moraes, Dror, Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the generator JAX uses). Nothing
// is stateful: element i of a fill is a pure function of (seed, stream, offset + i), so any
// element can be regenerated alone, in any engine, with the same bits.
//
// Layout of the stream. The key is the 64-bit seed (k0 = seedLo, k1 = seedHi). Element
// position p = offset + i (computed in 64 bits, so it never wraps) lives in block
// b = p >> 1, word p & 1: one Threefry call on counter (x0 = b, x1 = stream) yields the two
// 32-bit words (w0, w1) of positions 2b and 2b+1. So:
//   bits      element p = w_{p&1}
//   uniform   element p = (w_{p&1} >>> 8) · 2^-24              ∈ [0, 1), 24-bit resolution
//   bernoulli element p = uniform(p) < prob ? scale : 0          (the same uniform stream)
//   gauss     elements 2b, 2b+1 = Box–Muller pair from (w0, w1): ρ·cos θ, ρ·sin θ
// with ρ = sqrt(-2 ln u), u = 1 - (w0 >>> 8)·2^-24 ∈ (0, 1] (so |z| ≤ 5.77), and
// θ = q·π/2 + r, q = w1 >>> 30, r = (((w1 >>> 8) & 0x3fffff) - 2^21)·π/2^23 ∈ [-π/4, π/4):
// the quadrant comes from integer bits, so no range reduction is needed and θ is exactly
// uniform over the 2^24 points of its lattice.
//
// SIMD kernels run 4 Threefry blocks per step on i32x4 lanes (8 elements); a head element
// (odd start position) uses the scalar path and the tail a last group of which only the needed
// lanes are stored; both give the scalar path's bits.

import { v_log_normal, s_log, v_sin_kernel, s_sin_kernel, v_cos_kernel, s_cos_kernel } from './vmath';

// Threefry-2x32 constants (Random123 threefry.h): key-schedule parity and rotation counts.
const SKEIN_PARITY: u32 = 0x1bd11bda;
const R0 = 13, R1 = 15, R2 = 26, R3 = 6, R4 = 17, R5 = 29, R6 = 16, R7 = 24;

const TWO_M24: f32 = 5.9604644775390625e-8; // 2^-24
const PI_2_M23: f32 = 3.7450702829239286e-7; // π·2^-23 = (π/2)/2^22
const HALF_RANGE: i32 = 0x200000; // 2^21

const MODE_BITS = 0, MODE_UNIFORM = 1, MODE_GAUSS = 2, MODE_BERNOULLI = 3;

// ---- Threefry-2x32-20 ----------------------------------------------------------------------

// @ts-ignore: decorator
@inline function rotl4(x: v128, r: i32): v128 {
  return v128.or(i32x4.shl(x, r), i32x4.shr_u(x, 32 - r));
}

/**
 * Threefry-2x32-20 of four counters at once: lanes of (x0, x1) are the counters; returns
 * word 0 of each lane and leaves word 1 in {@link tf4_w1}.
 */
// @ts-ignore: decorator
@inline function threefry4(x0: v128, x1: v128, k0: u32, k1: u32): v128 {
  const k2 = k0 ^ k1 ^ SKEIN_PARITY;
  const ks0 = i32x4.splat(k0), ks1 = i32x4.splat(k1), ks2 = i32x4.splat(k2);
  x0 = i32x4.add(x0, ks0); x1 = i32x4.add(x1, ks1);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R0), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R1), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R2), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R3), x0);
  x0 = i32x4.add(x0, ks1); x1 = i32x4.add(x1, i32x4.splat(k2 + 1));
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R4), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R5), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R6), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R7), x0);
  x0 = i32x4.add(x0, ks2); x1 = i32x4.add(x1, i32x4.splat(k0 + 2));
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R0), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R1), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R2), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R3), x0);
  x0 = i32x4.add(x0, ks0); x1 = i32x4.add(x1, i32x4.splat(k1 + 3));
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R4), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R5), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R6), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R7), x0);
  x0 = i32x4.add(x0, ks1); x1 = i32x4.add(x1, i32x4.splat(k2 + 4));
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R0), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R1), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R2), x0);
  x0 = i32x4.add(x0, x1); x1 = v128.xor(rotl4(x1, R3), x0);
  x0 = i32x4.add(x0, ks2); x1 = i32x4.add(x1, i32x4.splat(k0 + 5));
  tf4_w1 = x1;
  return x0;
}
let tf4_w1: v128 = i32x4.splat(0);

/** Scalar Threefry-2x32-20 of counter (x0, x1) under key (k0, k1): returns w0 | w1 << 32. */
// @ts-ignore: decorator
@inline function threefry(x0: u32, x1: u32, k0: u32, k1: u32): u64 {
  const k2 = k0 ^ k1 ^ SKEIN_PARITY;
  x0 += k0; x1 += k1;
  x0 += x1; x1 = rotl<u32>(x1, R0) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R1) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R2) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R3) ^ x0;
  x0 += k1; x1 += k2 + 1;
  x0 += x1; x1 = rotl<u32>(x1, R4) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R5) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R6) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R7) ^ x0;
  x0 += k2; x1 += k0 + 2;
  x0 += x1; x1 = rotl<u32>(x1, R0) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R1) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R2) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R3) ^ x0;
  x0 += k0; x1 += k1 + 3;
  x0 += x1; x1 = rotl<u32>(x1, R4) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R5) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R6) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R7) ^ x0;
  x0 += k1; x1 += k2 + 4;
  x0 += x1; x1 = rotl<u32>(x1, R0) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R1) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R2) ^ x0;
  x0 += x1; x1 = rotl<u32>(x1, R3) ^ x0;
  x0 += k2; x1 += k0 + 5;
  return <u64>x0 | (<u64>x1 << 32);
}

/** Known-answer hook: out[0..1] = Threefry-2x32-20(counter (c0, c1), key (k0, k1)) (u32 words). */
export function threefry2x32_20(c0: u32, c1: u32, k0: u32, k1: u32, out: usize): void {
  const w = threefry(c0, c1, k0, k1);
  store<u32>(out, <u32>w);
  store<u32>(out, <u32>(w >> 32), 4);
}

/** SIMD known-answer hook: ctr holds 4 counters as x0[4] then x1[4]; writes w0[4] then w1[4] to out. */
export function threefry2x32_20_x4(ctr: usize, k0: u32, k1: u32, out: usize): void {
  v128.store(out, threefry4(v128.load(ctr), v128.load(ctr, 16), k0, k1));
  v128.store(out, tf4_w1, 16);
}

// ---- word -> value maps (scalar twin beside each SIMD one) ---------------------------------

// @ts-ignore: decorator
@inline function v_unit(w: v128): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.shr_u(w, 8)), f32x4.splat(TWO_M24));
}
// @ts-ignore: decorator
@inline function s_unit(w: u32): f32 {
  return <f32>(w >>> 8) * TWO_M24;
}

// @ts-ignore: decorator
@inline function v_bernoulli(w: v128, p: f32, scale: f32): v128 {
  return v128.and(f32x4.splat(scale), f32x4.lt(v_unit(w), f32x4.splat(p)));
}
// @ts-ignore: decorator
@inline function s_bernoulli(w: u32, p: f32, scale: f32): f32 {
  return select<f32>(scale, 0, s_unit(w) < p);
}

// Box–Muller radius ρ = sqrt(-2 ln u), u = 1 - (w0 >>> 8)·2^-24 ∈ (0, 1] (exact in f32).
// @ts-ignore: decorator
@inline function v_radius(w0: v128): v128 {
  const u = f32x4.sub(f32x4.splat(1.0), v_unit(w0)); // normal: in [2^-24, 1]
  return f32x4.sqrt(f32x4.mul(f32x4.splat(-2.0), v_log_normal(u)));
}
// @ts-ignore: decorator
@inline function s_radius(w0: u32): f32 {
  const u = <f32>1.0 - s_unit(w0);
  return sqrt<f32>(<f32>-2.0 * s_log(u));
}

// Angle offset r ∈ [-π/4, π/4) from bits 8..29 of w1 (bits 30..31 are the quadrant).
// @ts-ignore: decorator
@inline function v_angle(w1: v128): v128 {
  const k = i32x4.sub(v128.and(i32x4.shr_u(w1, 8), i32x4.splat(0x3fffff)), i32x4.splat(HALF_RANGE));
  return f32x4.mul(f32x4.convert_i32x4_s(k), f32x4.splat(PI_2_M23));
}
// @ts-ignore: decorator
@inline function s_angle(w1: u32): f32 {
  return <f32>(<i32>((w1 >>> 8) & 0x3fffff) - HALF_RANGE) * PI_2_M23;
}

// Box–Muller pair of one block (words w0, w1): returns ρ·cos θ (position 2b) and leaves
// ρ·sin θ (position 2b+1) in gauss_odd / gauss4_odd.
// @ts-ignore: decorator
@inline function s_gauss_pair(w0: u32, w1: u32): f32 {
  const rho = s_radius(w0), r = s_angle(w1), q = w1 >>> 30;
  const s = s_sin_kernel(r), c = s_cos_kernel(r);
  // cos θ, sin θ for θ = q·π/2 + r: q = 0: (c, s), 1: (-s, c), 2: (-c, -s), 3: (s, -c).
  const even = (q & 1) == 0;
  const cs = reinterpret<f32>(reinterpret<u32>(select<f32>(c, s, even)) ^ (((q + 1) & 2) << 30));
  const sn = reinterpret<f32>(reinterpret<u32>(select<f32>(s, c, even)) ^ ((q & 2) << 30));
  gauss_odd = rho * sn;
  return rho * cs;
}
let gauss_odd: f32 = 0;

// @ts-ignore: decorator
@inline function v_gauss_pair(w0: v128, w1: v128): v128 {
  const rho = v_radius(w0), r = v_angle(w1), q = i32x4.shr_u(w1, 30);
  const s = v_sin_kernel(r), c = v_cos_kernel(r);
  const isEven = i32x4.eq(v128.and(q, i32x4.splat(1)), i32x4.splat(0));
  const cs = v128.xor(v128.bitselect(c, s, isEven), i32x4.shl(v128.and(i32x4.add(q, i32x4.splat(1)), i32x4.splat(2)), 30));
  const sn = v128.xor(v128.bitselect(s, c, isEven), i32x4.shl(v128.and(q, i32x4.splat(2)), 30));
  gauss4_odd = f32x4.mul(rho, sn);
  return f32x4.mul(rho, cs);
}
let gauss4_odd: v128 = i32x4.splat(0);

// ---- fills ------------------------------------------------------------------------------

/**
 * Scalar path for elements [i0, i1) of a fill: the scalar twins run it for everything, the
 * SIMD kernels for their head and tail. Recomputes a block only when its pair starts.
 */
// @ts-ignore: decorator
@inline function fill_scalar(mode: i32, out: usize, i0: i32, i1: i32, prob: f32, scale: f32, k0: u32, k1: u32, stream: u32, offset: u32): void {
  let w0: u32 = 0, w1: u32 = 0;
  let a: f32 = 0, b: f32 = 0; // gauss pair
  for (let i = i0; i < i1; i++) {
    const p = <u64>offset + <u64>i;
    const odd = <u32>(p & 1);
    if (i == i0 || !odd) {
      const w = threefry(<u32>(p >> 1), stream, k0, k1);
      w0 = <u32>w; w1 = <u32>(w >> 32);
      if (mode == MODE_GAUSS) {
        a = s_gauss_pair(w0, w1);
        b = gauss_odd;
      }
    }
    const dst = out + (<usize>i << 2);
    const w = odd ? w1 : w0;
    if (mode == MODE_BITS) store<u32>(dst, w);
    else if (mode == MODE_UNIFORM) store<f32>(dst, s_unit(w));
    else if (mode == MODE_BERNOULLI) store<f32>(dst, s_bernoulli(w, prob, scale));
    else store<f32>(dst, odd ? b : a);
  }
}

/**
 * The values of four blocks (words w0, w1 per lane) in `mode`: returns those of the even
 * positions 2b (lane = block) and leaves those of the odd ones 2b+1 in group_odd.
 */
// @ts-ignore: decorator
@inline function group_values(mode: i32, w0: v128, w1: v128, prob: f32, scale: f32): v128 {
  if (mode == MODE_BITS) {
    group_odd = w1;
    return w0;
  }
  if (mode == MODE_UNIFORM) {
    group_odd = v_unit(w1);
    return v_unit(w0);
  }
  if (mode == MODE_BERNOULLI) {
    group_odd = v_bernoulli(w1, prob, scale);
    return v_bernoulli(w0, prob, scale);
  }
  const even = v_gauss_pair(w0, w1);
  group_odd = gauss4_odd;
  return even;
}
let group_odd: v128 = i32x4.splat(0);

/** The 8 values of four blocks (words w0, w1 per lane) stored in position order at dst. */
// @ts-ignore: decorator
@inline function store_group(mode: i32, dst: usize, w0: v128, w1: v128, prob: f32, scale: f32): void {
  const even = group_values(mode, w0, w1, prob, scale), odd = group_odd;
  // Interleave so that memory holds positions 2b, 2b+1, 2b+2, ... in order.
  v128.store(dst, i32x4.shuffle(even, odd, 0, 4, 1, 5));
  v128.store(dst, i32x4.shuffle(even, odd, 2, 6, 3, 7), 16);
}

// @ts-ignore: decorator
@inline function fill_simd(mode: i32, out: usize, n: i32, prob: f32, scale: f32, k0: u32, k1: u32, stream: u32, offset: u32): void {
  // Head: an odd start position is the second word of its block.
  let i = <i32>(offset & 1);
  if (i > n) i = n;
  fill_scalar(mode, out, 0, i, prob, scale, k0, k1, stream, offset);
  let blk = <u32>((<u64>offset + <u64>i) >> 1);
  const x1 = i32x4.splat(stream);
  const lane = i32x4(0, 1, 2, 3);
  // Two independent groups of four blocks a step: Threefry's 20 rounds and the log polynomial
  // are serial chains, and a second chain in the same loop body keeps the vector units busy.
  for (; i + 16 <= n; i += 16, blk += 8) {
    const a0 = threefry4(i32x4.add(i32x4.splat(blk), lane), x1, k0, k1);
    const a1 = tf4_w1;
    const b0 = threefry4(i32x4.add(i32x4.splat(blk + 4), lane), x1, k0, k1);
    const b1 = tf4_w1;
    const dst = out + (<usize>i << 2);
    store_group(mode, dst, a0, a1, prob, scale);
    store_group(mode, dst + 32, b0, b1, prob, scale);
  }
  // Then four blocks a step; the last 1..7 values take the first lanes of a last group (what
  // the scalar path computes, at a quarter of its cost per value).
  for (; i < n; i += 8, blk += 4) {
    const w0 = threefry4(i32x4.add(i32x4.splat(blk), lane), x1, k0, k1);
    const even = group_values(mode, w0, tf4_w1, prob, scale), odd = group_odd;
    const dst = out + (<usize>i << 2);
    let v = i32x4.shuffle(even, odd, 0, 4, 1, 5);
    if (i + 8 <= n) {
      v128.store(dst, v);
      v128.store(dst, i32x4.shuffle(even, odd, 2, 6, 3, 7), 16);
      continue;
    }
    let count = n - i, d = dst;
    if (count >= 4) {
      v128.store(d, v);
      v = i32x4.shuffle(even, odd, 2, 6, 3, 7);
      d += 16;
      count -= 4;
    }
    // Lanes moved as integers: the values' bits unchanged.
    if (count > 0) store<i32>(d, i32x4.extract_lane(v, 0));
    if (count > 1) store<i32>(d, i32x4.extract_lane(v, 1), 4);
    if (count > 2) store<i32>(d, i32x4.extract_lane(v, 2), 8);
  }
}

/** Raw Threefry words: out[i] (u32) = word of position offset + i (see the layout above). */
export function noise_bits_u32(out: usize, n: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  fill_simd(MODE_BITS, out, n, 0, 0, seedLo, seedHi, stream, offset);
}
/** Scalar twin of {@link noise_bits_u32}. */
export function noise_bits_u32_scalar(out: usize, n: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  fill_scalar(MODE_BITS, out, 0, n, 0, 0, seedLo, seedHi, stream, offset);
}

/** out[i] ~ U[0, 1) with 24-bit resolution (multiples of 2^-24), position offset + i. */
export function noise_uniform_f32(out: usize, n: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  fill_simd(MODE_UNIFORM, out, n, 0, 0, seedLo, seedHi, stream, offset);
}
/** Scalar twin of {@link noise_uniform_f32}. */
export function noise_uniform_f32_scalar(out: usize, n: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  fill_scalar(MODE_UNIFORM, out, 0, n, 0, 0, seedLo, seedHi, stream, offset);
}

/** out[i] ~ N(0, 1) by Box–Muller (even positions take ρ·cos θ, odd ones ρ·sin θ of their block's pair); |out| ≤ 5.77. */
export function noise_gauss_f32(out: usize, n: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  fill_simd(MODE_GAUSS, out, n, 0, 0, seedLo, seedHi, stream, offset);
}
/** Scalar twin of {@link noise_gauss_f32}. */
export function noise_gauss_f32_scalar(out: usize, n: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  fill_scalar(MODE_GAUSS, out, 0, n, 0, 0, seedLo, seedHi, stream, offset);
}

/**
 * out[i] = scale when uniform(offset + i) < p, else 0 (so P = ceil(p·2^24)/2^24 exactly);
 * p in [0, 1]. Inverted dropout with keep probability k: p = k, scale = 1/k.
 */
export function noise_bernoulli_f32(out: usize, n: i32, p: f32, scale: f32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  assert(p >= 0 && p <= 1, 'p must be in [0, 1]');
  fill_simd(MODE_BERNOULLI, out, n, p, scale, seedLo, seedHi, stream, offset);
}
/** Scalar twin of {@link noise_bernoulli_f32}. */
export function noise_bernoulli_f32_scalar(out: usize, n: i32, p: f32, scale: f32, seedLo: u32, seedHi: u32, stream: u32, offset: u32): void {
  assert(n >= 0, 'n must be >= 0');
  assert(p >= 0 && p <= 1, 'p must be in [0, 1]');
  fill_scalar(MODE_BERNOULLI, out, 0, n, p, scale, seedLo, seedHi, stream, offset);
}

// ---- values at given positions -----------------------------------------------------------


/** One element of {@link noise_gauss_at_f32}: the Gaussian the fill puts at position p. */
// @ts-ignore: decorator
@inline function gauss_at1(p: u64, k0: u32, k1: u32, stream: u32): f32 {
  const w = threefry(<u32>(p >> 1), stream, k0, k1);
  const a = s_gauss_pair(<u32>w, <u32>(w >> 32));
  return (p & 1) ? gauss_odd : a;
}

/**
 * Gaussians at chosen stream positions, without filling the positions between: out[r·cols + j]
 * (f32, rows × cols) = the value {@link noise_gauss_f32} of (seed, stream) puts at position
 * rowBase + (r mod passRows)·rowStride + idx[j] (idx: cols u32), under the seed whose high word
 * is seedHi + ⌊r / passRows⌋ (passRows > 0 rows per pass: the rows of several Monte-Carlo
 * passes in one call; passRows = 0: every row one pass). A pruned layer draws the noise of its
 * kept weights this way (rows = 1, idx their dense indices), and a pre-activation grid its
 * noise (idx the units' positions in a row). Four positions a step on i32x4 lanes; the lane
 * parity picks the pair's cos or sin half; the tail goes through the scalar path, same bits.
 * idx = 0: the positions of a row are contiguous, idx[j] = j (each row one fill, both halves of
 * every Box–Muller pair used).
 */
export function noise_gauss_at_f32(out: usize, rows: i32, cols: i32, idx: usize, rowBase: u32, rowStride: u32, passRows: i32, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(rows >= 0 && cols >= 0 && passRows >= 0, 'rows, cols, passRows must be >= 0');
  const x1 = i32x4.splat(stream);
  const one = i64x2.splat(1);
  const cols4 = cols & ~3;
  const per = passRows > 0 ? passRows : max(rows, 1);
  for (let r = 0; r < rows; r++) {
    const k1 = seedHi + <u32>(r / per);
    const base = <u64>rowBase + <u64>(r % per) * <u64>rowStride;
    const dst = out + (<usize>(r * cols) << 2);
    if (!idx) {
      assert(base + <u64>cols <= 0x100000000, 'contiguous positions must stay below 2^32');
      fill_simd(MODE_GAUSS, dst, cols, 0, 0, seedLo, k1, stream, <u32>base);
      continue;
    }
    const vb = i64x2.splat(<i64>base);
    let j = 0;
    for (; j < cols4; j += 4) {
      // Positions in 64 bits (two i64x2 halves), then their block (p >> 1, low word) and parity.
      const ix = v128.load(idx + (<usize>j << 2));
      const lo = i64x2.add(vb, i64x2.extend_low_i32x4_u(ix));
      const hi = i64x2.add(vb, i64x2.extend_high_i32x4_u(ix));
      const blk = i32x4.shuffle(i64x2.shr_u(lo, 1), i64x2.shr_u(hi, 1), 0, 2, 4, 6);
      const odd = i32x4.shuffle(v128.and(lo, one), v128.and(hi, one), 0, 2, 4, 6);
      const w0 = threefry4(blk, x1, seedLo, k1);
      const even = v_gauss_pair(w0, tf4_w1);
      v128.store(dst + (<usize>j << 2), v128.bitselect(gauss4_odd, even, i32x4.ne(odd, i32x4.splat(0))));
    }
    for (; j < cols; j++) store<f32>(dst + (<usize>j << 2), gauss_at1(base + <u64>load<u32>(idx + (<usize>j << 2)), seedLo, k1, stream));
  }
}

/** Scalar twin of {@link noise_gauss_at_f32}. */
export function noise_gauss_at_f32_scalar(out: usize, rows: i32, cols: i32, idx: usize, rowBase: u32, rowStride: u32, passRows: i32, seedLo: u32, seedHi: u32, stream: u32): void {
  assert(rows >= 0 && cols >= 0 && passRows >= 0, 'rows, cols, passRows must be >= 0');
  const per = passRows > 0 ? passRows : max(rows, 1);
  for (let r = 0; r < rows; r++) {
    const base = <u64>rowBase + <u64>(r % per) * <u64>rowStride;
    for (let j = 0; j < cols; j++) {
      const p = idx ? base + <u64>load<u32>(idx + (<usize>j << 2)) : base + <u64>j;
      store<f32>(out + (<usize>(r * cols + j) << 2), gauss_at1(p, seedLo, seedHi + <u32>(r / per), stream));
    }
  }
}
