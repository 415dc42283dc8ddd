// Linear memory is owned by TypeScript (src/runtime/heap.ts). Kernels never allocate:
// they take byte pointers into memory above the heap base reported here.

/** First byte TypeScript may hand out (16-byte aligned, above static data). */
export function heap_base(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}
