// Geometry of 2-D sliding windows over NHWC images (convolutions, dense and sparse, and pooling),
// written once for every kernel family that slides one: the output size and the checks of the
// sizes it is computed from. Sizes, strides and paddings are element counts.

/** Output positions along one axis: ⌊(size + 2·pad − k) / stride⌋ + 1 (valid once {@link checkWindow2d} passed). */
// @ts-ignore: decorator
@inline export function outDim(size: i32, k: i32, s: i32, p: i32): i32 {
  return (size + 2 * p - k) / s + 1;
}

/**
 * Abort unless n images [h, w, c] → f channels through a kh×kw window with strides sh, sw and
 * zero paddings ph, pw is a valid geometry: positive sizes, window and strides, paddings ≥ 0,
 * and a window no larger than the padded input (so each output axis has ≥ 1 position). Pooling
 * passes f = c.
 */
export function checkWindow2d(n: i32, h: i32, w: i32, c: i32, f: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32): void {
  assert(n > 0 && h > 0 && w > 0 && c > 0 && f > 0, 'window2d: sizes must be positive');
  assert(kh > 0 && kw > 0 && sh > 0 && sw > 0 && ph >= 0 && pw >= 0, 'window2d: bad window, stride or padding');
  assert(h + 2 * ph >= kh && w + 2 * pw >= kw, 'window2d: window larger than the padded input');
}
