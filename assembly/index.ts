// One wasm module: every kernel family re-exported. Kernels take byte pointers,
// element counts and element strides; none allocates and none calls back into JS.
export * from './memory';
