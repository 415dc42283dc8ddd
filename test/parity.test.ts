import { describe, expect, inject, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { parityWorkload } from './parity-workload.js';

describe('same bits everywhere', () => {
  it('computes the parity workload to the same hash as Node', () => {
    const here = parityWorkload(Runtime.createSync());
    const node = inject('nodeParityHash');
    expect(node).toMatch(/^[0-9a-f]{8}$/);
    expect(here).toBe(node);
  });
  it('is repeatable within one engine across runtimes', () => {
    expect(parityWorkload(Runtime.createSync())).toBe(parityWorkload(Runtime.createSync()));
  });
});
