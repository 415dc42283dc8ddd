// The blocked GEMM engine behind gemm_f32_nn / _nt / _tn (assembly/gemm.ts) and the conv2d
// forward (assembly/conv.ts). Not re-exported by index.ts: nothing here is a wasm export.
// Row-major f32; pointers are byte offsets, sizes and leading dimensions in elements.
//
// Structure (GotoBLAS / BLIS): the k dimension is cut into blocks of at most KC, n into blocks
// of at most NC and m into blocks of at most MC. Each KC×NC block of B is packed into panels of
// NR = 8 columns and each MC×KC block of A into strips of MR = 4 rows, both k-major, so the
// 4x8 micro-kernel reads two contiguous streams whatever the layout (nn, nt, tn): only the
// packing routines know the layout. Eight f32x4 accumulators + two B vectors + one broadcast
// A value fit V8's 15 usable xmm registers; larger tiles spilled (see TOOLCHAIN.md). When n is
// not a multiple of 8, the last 1-2 or 3-4 columns go to 16x2 / 8x4 tail kernels (also eight
// accumulators) instead of a zero-padded 4x8 tile (see tailWidth).
// Within one k-block every output is summed in plain p order, as in the scalar twins; across
// k-blocks the partial sums are added to C, so results are deterministic but may differ from
// the scalar twin in the last bits when k > KC.
//
// Callers that produce A themselves (conv2d's im2col) write it straight into the packed-A
// buffer (gemmPackA(): strip s holds rows 4s..4s+3, element (row 4s+q, col p) at float
// s·4·kc + 4p + q, rows past mc zero) and then call gemmPackB + gemmMacro, skipping one copy.
//
// A B used by many products in a row (a recurrent weight, once per time step) can be packed
// once by gemmPackWholeB, as a single k-block of up to MACRO_KC_MAX, and reused by gemmPackedB.
//
// The packing buffers are static (memory.data, below __heap_base), which makes these kernels
// non-reentrant; wasm here is single-threaded, so that is fine.

export const MR = 4;
const NR = 8;
/** k-block: a packed 8-column B panel (KC×8 floats = 8 KiB) stays in L1 while A streams. */
const KC = 256;
/** m-block: the packed A block (MC×KC floats = 128 KiB) stays in L2. */
const MC = 128;
/** n-block: the packed B block (KC×NC floats = 512 KiB). */
const NC = 512;

/**
 * Largest k-block a gemmMacro caller should use: a 16 KiB B panel plus an 8 KiB A strip
 * still sit in L1 (measured: KC = 512 ran as fast as 256 on the MLP shapes).
 */
export const MACRO_KC_MAX = 2 * KC;
/** Capacity of the packed-A buffer in floats (strips of MR rows × kc, any kc). */
export const PACK_A_FLOATS = MC * KC;
/** Capacity of the packed-B buffer in floats (kc × nc rounded up to whole panels). */
export const PACK_B_FLOATS = KC * NC;

const packA: usize = memory.data(PACK_A_FLOATS * 4, 16);
const packB: usize = memory.data(PACK_B_FLOATS * 4, 16);
/** One 32-float tile for edge tiles, written whole and then merged into C element by element. */
const edgeTile: usize = memory.data(MR * NR * 4, 16);

/** Bytes of static scratch the engine reserves. */
export function gemmScratchBytes(): i32 {
  return (PACK_A_FLOATS + PACK_B_FLOATS + MR * NR) * 4;
}

/** The packed-A buffer, for callers that pack A themselves (see the header). */
export function gemmPackA(): usize {
  return packA;
}

/** Floats the packed B block takes for kc × nc (whole panels; see tailWidth). */
export function packedBFloats(kc: i32, nc: i32): i32 {
  const full = nc & ~(NR - 1);
  return kc * (full + tailWidth(nc - full));
}

/**
 * Pack B[0:kc, 0:nc] (row-major, element (p, j) at b[p*ldb + j]) into the packed-B buffer;
 * needs packedBFloats(kc, nc) <= PACK_B_FLOATS.
 */
export function gemmPackB(b: usize, ldb: i32, kc: i32, nc: i32): void {
  packBBlock(false, b, ldb, kc, nc);
}

/**
 * C[0:mc, 0:nc] (=|+=) packed A (mc rows, from gemmPackA's buffer) · packed B (gemmPackB)
 * (+ bias[0:nc]), one k-block of kc. loadC: add to C; else overwrite.
 */
export function gemmMacro(mc: i32, nc: i32, kc: i32, c: usize, ldc: i32, loadC: bool, bias: usize): void {
  macroKernel(mc, nc, kc, c, ldc, loadC, bias);
}

/**
 * Pack all of B (k × n; nn: element (p, j) at b[p*ldb + j], transB: at b[j*ldb + p]) as one
 * k-block for {@link gemmPackedB}, when it fits (k ≤ MACRO_KC_MAX, packedBFloats(k, n) ≤
 * PACK_B_FLOATS); returns false, packing nothing, otherwise. For a B used by many products in a
 * row with no other GEMM between them (a recurrent weight, once per step): packed once, not per call.
 */
export function gemmPackWholeB(transB: bool, b: usize, ldb: i32, k: i32, n: i32): bool {
  if (k < 1 || n < 1 || k > MACRO_KC_MAX || packedBFloats(k, n) > PACK_B_FLOATS) return false;
  packBBlock(transB, b, ldb, k, n);
  return true;
}

/**
 * C[m×n] (=|+=) A[m×k] · B (+ bias) with B packed whole by {@link gemmPackWholeB} (same k, n;
 * no other product since). One k-block: each output sums its k terms in plain p order, as the
 * scalar twins do, then adds them to the prior (C and/or bias).
 */
export function gemmPackedB(m: i32, n: i32, k: i32, a: usize, lda: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  // A's packed block holds PACK_A_FLOATS: k up to MACRO_KC_MAX leaves room for 64 rows.
  const mcMax = min(MC, (PACK_A_FLOATS / k) & ~(MR - 1));
  for (let ic = 0; ic < m; ic += mcMax) {
    const mc = min(mcMax, m - ic);
    for (let ir = 0; ir < mc; ir += MR) {
      packColsMajorP(packA + (<usize>(ir * k) << 2), a + (<usize>((ic + ir) * lda) << 2), lda, k, min(MR, mc - ir), MR);
    }
    macroKernel(mc, n, k, c + (<usize>(ic * ldc) << 2), ldc, acc != 0, bias);
  }
}

/** Loop nest of the blocked product; transA / transB select the packing routines. */
export function gemmBlocked(transA: bool, transB: bool, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    initOnly(m, n, c, ldc, bias, acc);
    return;
  }
  // Equal k-blocks (784 -> 4 × 196 rather than 3 × 256 + 16): a short last block would pay
  // the C load/store of every tile for little work.
  const kBlocks = (k + KC - 1) / KC;
  const kcStep = (k + kBlocks - 1) / kBlocks;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += kcStep) {
      const kc = min(kcStep, k - pc);
      // Pack B[pc:pc+kc, jc:jc+nc] into 8-column panels, zero-padded to a multiple of 8.
      packBBlock(transB, b + (<usize>(transB ? jc * ldb + pc : pc * ldb + jc) << 2), ldb, kc, nc);
      // The first k-block starts from C (acc) or zero, plus bias; later blocks add to C.
      const loadC = acc != 0 || pc > 0;
      const biasBlock: usize = pc == 0 && bias != 0 ? bias + (<usize>jc << 2) : 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        for (let ir = 0; ir < mc; ir += MR) {
          const dst = packA + (<usize>(ir * kc) << 2);
          const h = min(MR, mc - ir);
          if (transA) packRowsMajorJ(dst, a + (<usize>(pc * lda + ic + ir) << 2), lda, kc, h, MR);
          else packColsMajorP(dst, a + (<usize>((ic + ir) * lda + pc) << 2), lda, kc, h, MR);
        }
        macroKernel(mc, nc, kc, c + (<usize>(ic * ldc + jc) << 2), ldc, loadC, biasBlock);
      }
    }
  }
}

/**
 * Width of the last B panel when nc is not a multiple of NR: the leftover t columns go to the
 * narrowest micro-kernel that holds them (2: kernel16x2, 4: kernel8x4, 8: kernel4x8), so the
 * zero padding computed is at most one column (t = 1, 3) or three (t = 5). F = 50 (LeNet-5's
 * second conv) leaves t = 2, which a full 8-wide tile would compute at a quarter efficiency.
 */
// @ts-ignore: decorator
@inline
function tailWidth(t: i32): i32 {
  return t == 0 ? 0 : t <= 2 ? 2 : t <= 4 ? 4 : NR;
}

/**
 * Pack B[0:kc, 0:nc] (nn: element (p, j) at b[p*ldb + j]; transB: at b[j*ldb + p]) into packB:
 * full NR-column panels, then one tail panel of tailWidth(nc % NR) columns, each k-major.
 */
function packBBlock(transB: bool, b: usize, ldb: i32, kc: i32, nc: i32): void {
  const full = nc & ~(NR - 1);
  for (let jr = 0; jr < full; jr += NR) {
    const dst = packB + (<usize>(jr * kc) << 2);
    if (transB) packColsMajorP(dst, b + (<usize>(jr * ldb) << 2), ldb, kc, NR, NR);
    else packRowsMajorJ(dst, b + (<usize>jr << 2), ldb, kc, NR, NR);
  }
  const t = nc - full;
  if (t == 0) return;
  const dst = packB + (<usize>(full * kc) << 2);
  if (transB) packColsMajorP(dst, b + (<usize>(full * ldb) << 2), ldb, kc, t, tailWidth(t));
  else packRowsMajorJ(dst, b + (<usize>full << 2), ldb, kc, t, tailWidth(t));
}

/**
 * C[0:mc, 0:nc] from the packed A block (packA, ceil(mc/4) strips) and the packed B block
 * (packB): every full B panel against every A strip (the panel stays in L1 while the strips
 * stream from L2), then the tail panel with the micro-kernel of its width.
 * loadC: start from C (else from zero); bias: bias[0:nc] or 0.
 */
function macroKernel(mc: i32, nc: i32, kc: i32, c: usize, ldc: i32, loadC: bool, bias: usize): void {
  const full = nc & ~(NR - 1);
  const stripBytes = <usize>(kc * MR) << 2;
  const tileRowsBytes = <usize>(MR * ldc) << 2;
  for (let jr = 0; jr < full; jr += NR) {
    const bp = packB + (<usize>(jr * kc) << 2);
    const biasp: usize = bias ? bias + (<usize>jr << 2) : 0;
    let ap = packA, cp = c + (<usize>jr << 2);
    for (let ir = 0; ir < mc; ir += MR) {
      kernel4x8(kc, ap, bp, cp, ldc, min(MR, mc - ir), NR, loadC, biasp);
      ap += stripBytes;
      cp += tileRowsBytes;
    }
  }
  const t = nc - full;
  if (t == 0) return;
  const bp = packB + (<usize>(full * kc) << 2);
  const biasp: usize = bias ? bias + (<usize>full << 2) : 0;
  let ap = packA, cp = c + (<usize>full << 2);
  if (t > 4) {
    for (let ir = 0; ir < mc; ir += MR) {
      kernel4x8(kc, ap, bp, cp, ldc, min(MR, mc - ir), t, loadC, biasp);
      ap += stripBytes;
      cp += tileRowsBytes;
    }
  } else if (t > 2) {
    for (let ir = 0; ir < mc; ir += 2 * MR) {
      kernel8x4(kc, ap, stripBytes, bp, cp, ldc, min(2 * MR, mc - ir), t, loadC, biasp);
      ap += 2 * stripBytes;
      cp += 2 * tileRowsBytes;
    }
  } else {
    for (let ir = 0; ir < mc; ir += 4 * MR) {
      kernel16x2(kc, ap, stripBytes, bp, cp, ldc, min(4 * MR, mc - ir), t, loadC, biasp);
      ap += 4 * stripBytes;
      cp += 4 * tileRowsBytes;
    }
  }
}

/**
 * Pack a kc×w block whose element (p, j) sits at src[p*ld + j] (contiguous along j) into
 * dst[p*W + j], zero-filling columns w..W-1.
 */
function packRowsMajorJ(dst: usize, src: usize, ld: i32, kc: i32, w: i32, W: i32): void {
  const srcStep = <usize>ld << 2;
  if (w == W && W >= 4) {
    if (W == 8) {
      for (let p = 0; p < kc; p++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += srcStep;
        dst += 32;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        v128.store(dst, v128.load(src));
        src += srcStep;
        dst += 16;
      }
    }
    return;
  }
  for (let p = 0; p < kc; p++) {
    let j = 0;
    for (; j < w; j++) store<f32>(dst + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
    for (; j < W; j++) store<f32>(dst + (<usize>j << 2), 0);
    src += srcStep;
    dst += <usize>W << 2;
  }
}

/** Store the 4x4 transpose of rows r0..r3: column q (lanes q of r0..r3) goes to d + q·step. */
// @ts-ignore: decorator
@inline
export function storeTransposed4x4(d: usize, step: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t01lo = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t01hi = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t23lo = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t23hi = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(d, v128.shuffle<f32>(t01lo, t23lo, 0, 1, 4, 5));
  v128.store(d + step, v128.shuffle<f32>(t01lo, t23lo, 2, 3, 6, 7));
  v128.store(d + 2 * step, v128.shuffle<f32>(t01hi, t23hi, 0, 1, 4, 5));
  v128.store(d + 3 * step, v128.shuffle<f32>(t01hi, t23hi, 2, 3, 6, 7));
}

/**
 * Pack a kc×w block whose element (p, j) sits at src[j*ld + p] (contiguous along p) into
 * dst[p*W + j], zero-filling columns w..W-1. Full groups of four j go through a 4x4 transpose.
 */
function packColsMajorP(dst: usize, src: usize, ld: i32, kc: i32, w: i32, W: i32): void {
  const rowStep = <usize>ld << 2;
  const dstStep = <usize>W << 2;
  let j = 0;
  for (; j + 4 <= w; j += 4) {
    const s0 = src + rowStep * <usize>j;
    const s1 = s0 + rowStep, s2 = s1 + rowStep, s3 = s2 + rowStep;
    const d = dst + (<usize>j << 2);
    let p = 0;
    for (; p + 4 <= kc; p += 4) {
      const o = <usize>p << 2;
      // Column q of the four loaded rows becomes packed row p+q.
      storeTransposed4x4(d + dstStep * <usize>p, dstStep,
        v128.load(s0 + o), v128.load(s1 + o), v128.load(s2 + o), v128.load(s3 + o));
    }
    for (; p < kc; p++) {
      const o = <usize>p << 2;
      const dp = d + dstStep * <usize>p;
      store<f32>(dp, load<f32>(s0 + o));
      store<f32>(dp, load<f32>(s1 + o), 4);
      store<f32>(dp, load<f32>(s2 + o), 8);
      store<f32>(dp, load<f32>(s3 + o), 12);
    }
  }
  // Leftover columns (w not a multiple of 4) and zero padding up to W.
  for (; j < W; j++) {
    const s = src + rowStep * <usize>j;
    const d = dst + (<usize>j << 2);
    if (j < w) {
      for (let p = 0; p < kc; p++) store<f32>(d + dstStep * <usize>p, load<f32>(s + (<usize>p << 2)));
    } else {
      for (let p = 0; p < kc; p++) store<f32>(d + dstStep * <usize>p, 0);
    }
  }
}

/**
 * The micro-kernel: a 4x8 tile of C from kc steps of packed A (4 floats per step) and packed
 * B (8 floats per step). Writes C = prior + A·B where prior = (loadC ? C : 0) + bias. Only
 * the top-left mr×nr corner is written (edge tiles go through edgeTile).
 */
function kernel4x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32, loadC: bool, biasp: usize): void {
  let acc0x0123 = f32x4.splat(0), acc0x4567 = f32x4.splat(0);
  let acc1x0123 = f32x4.splat(0), acc1x4567 = f32x4.splat(0);
  let acc2x0123 = f32x4.splat(0), acc2x4567 = f32x4.splat(0);
  let acc3x0123 = f32x4.splat(0), acc3x4567 = f32x4.splat(0);
  const aEnd = ap + (<usize>kc << 4);
  while (ap < aEnd) {
    const b0123 = v128.load(bp);
    const b4567 = v128.load(bp, 16);
    const a0 = v128.load32_splat(ap);
    acc0x0123 = f32x4.add(acc0x0123, f32x4.mul(a0, b0123));
    acc0x4567 = f32x4.add(acc0x4567, f32x4.mul(a0, b4567));
    const a1 = v128.load32_splat(ap, 4);
    acc1x0123 = f32x4.add(acc1x0123, f32x4.mul(a1, b0123));
    acc1x4567 = f32x4.add(acc1x4567, f32x4.mul(a1, b4567));
    const a2 = v128.load32_splat(ap, 8);
    acc2x0123 = f32x4.add(acc2x0123, f32x4.mul(a2, b0123));
    acc2x4567 = f32x4.add(acc2x4567, f32x4.mul(a2, b4567));
    const a3 = v128.load32_splat(ap, 12);
    acc3x0123 = f32x4.add(acc3x0123, f32x4.mul(a3, b0123));
    acc3x4567 = f32x4.add(acc3x4567, f32x4.mul(a3, b4567));
    ap += 16;
    bp += 32;
  }
  if (mr == MR && nr == NR) {
    const rowStep = <usize>ldc << 2;
    const c0 = c, c1 = c0 + rowStep, c2 = c1 + rowStep, c3 = c2 + rowStep;
    if (loadC || biasp) {
      let prior0123 = f32x4.splat(0), prior4567 = f32x4.splat(0);
      if (biasp) {
        prior0123 = v128.load(biasp);
        prior4567 = v128.load(biasp, 16);
      }
      if (loadC) {
        // prior = C + bias, in the scalar twin's order.
        acc0x0123 = f32x4.add(f32x4.add(v128.load(c0), prior0123), acc0x0123);
        acc0x4567 = f32x4.add(f32x4.add(v128.load(c0, 16), prior4567), acc0x4567);
        acc1x0123 = f32x4.add(f32x4.add(v128.load(c1), prior0123), acc1x0123);
        acc1x4567 = f32x4.add(f32x4.add(v128.load(c1, 16), prior4567), acc1x4567);
        acc2x0123 = f32x4.add(f32x4.add(v128.load(c2), prior0123), acc2x0123);
        acc2x4567 = f32x4.add(f32x4.add(v128.load(c2, 16), prior4567), acc2x4567);
        acc3x0123 = f32x4.add(f32x4.add(v128.load(c3), prior0123), acc3x0123);
        acc3x4567 = f32x4.add(f32x4.add(v128.load(c3, 16), prior4567), acc3x4567);
      } else {
        acc0x0123 = f32x4.add(prior0123, acc0x0123);
        acc0x4567 = f32x4.add(prior4567, acc0x4567);
        acc1x0123 = f32x4.add(prior0123, acc1x0123);
        acc1x4567 = f32x4.add(prior4567, acc1x4567);
        acc2x0123 = f32x4.add(prior0123, acc2x0123);
        acc2x4567 = f32x4.add(prior4567, acc2x4567);
        acc3x0123 = f32x4.add(prior0123, acc3x0123);
        acc3x4567 = f32x4.add(prior4567, acc3x4567);
      }
    }
    v128.store(c0, acc0x0123);
    v128.store(c0, acc0x4567, 16);
    v128.store(c1, acc1x0123);
    v128.store(c1, acc1x4567, 16);
    v128.store(c2, acc2x0123);
    v128.store(c2, acc2x4567, 16);
    v128.store(c3, acc3x0123);
    v128.store(c3, acc3x4567, 16);
    return;
  }
  // Edge tile: spill the whole tile, then merge only the valid mr×nr corner.
  const t = edgeTile;
  v128.store(t, acc0x0123);
  v128.store(t, acc0x4567, 16);
  v128.store(t, acc1x0123, 32);
  v128.store(t, acc1x4567, 48);
  v128.store(t, acc2x0123, 64);
  v128.store(t, acc2x4567, 80);
  v128.store(t, acc3x0123, 96);
  v128.store(t, acc3x4567, 112);
  mergeTile(t, NR, 1, c, ldc, mr, nr, loadC, biasp);
}

/**
 * Merge a spilled tile into C: C[i, j] = (loadC ? C[i, j] : 0) + bias[j] + t[i*rs + j*cs] for
 * the top-left mr×nr corner, in the scalar twin's order.
 */
function mergeTile(t: usize, rs: i32, cs: i32, c: usize, ldc: i32, mr: i32, nr: i32, loadC: bool, biasp: usize): void {
  for (let i = 0; i < mr; i++) {
    const ci = c + (<usize>(i * ldc) << 2);
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      let prior: f32 = loadC ? load<f32>(ci + o) : 0;
      if (biasp) prior += load<f32>(biasp + o);
      store<f32>(ci + o, prior + load<f32>(t + (<usize>(i * rs + j * cs) << 2)));
    }
  }
}

// @ts-ignore: decorator
@inline
function mergeRow(ci: usize, bias0123: v128, acc0123: v128, loadC: bool): void {
  const prior = loadC ? f32x4.add(v128.load(ci), bias0123) : bias0123;
  v128.store(ci, f32x4.add(prior, acc0123));
}

/**
 * Tail micro-kernel for 3-4 leftover columns: an 8x4 tile of C from two packed A strips
 * (rows 0-3 at ap, rows 4-7 at ap + stripBytes) and a 4-wide B panel. Eight accumulators,
 * like kernel4x8, so the add latency stays covered. Writes the top-left mr×nr corner.
 */
function kernel8x4(kc: i32, ap: usize, stripBytes: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32, loadC: bool, biasp: usize): void {
  // A missing second strip (mr <= 4) re-reads the first: its rows are computed and dropped.
  let aq = mr > MR ? ap + stripBytes : ap;
  let acc0x0123 = f32x4.splat(0), acc1x0123 = f32x4.splat(0), acc2x0123 = f32x4.splat(0), acc3x0123 = f32x4.splat(0);
  let acc4x0123 = f32x4.splat(0), acc5x0123 = f32x4.splat(0), acc6x0123 = f32x4.splat(0), acc7x0123 = f32x4.splat(0);
  const bEnd = bp + (<usize>kc << 4);
  while (bp < bEnd) {
    const b0123 = v128.load(bp);
    acc0x0123 = f32x4.add(acc0x0123, f32x4.mul(v128.load32_splat(ap), b0123));
    acc1x0123 = f32x4.add(acc1x0123, f32x4.mul(v128.load32_splat(ap, 4), b0123));
    acc2x0123 = f32x4.add(acc2x0123, f32x4.mul(v128.load32_splat(ap, 8), b0123));
    acc3x0123 = f32x4.add(acc3x0123, f32x4.mul(v128.load32_splat(ap, 12), b0123));
    acc4x0123 = f32x4.add(acc4x0123, f32x4.mul(v128.load32_splat(aq), b0123));
    acc5x0123 = f32x4.add(acc5x0123, f32x4.mul(v128.load32_splat(aq, 4), b0123));
    acc6x0123 = f32x4.add(acc6x0123, f32x4.mul(v128.load32_splat(aq, 8), b0123));
    acc7x0123 = f32x4.add(acc7x0123, f32x4.mul(v128.load32_splat(aq, 12), b0123));
    ap += 16;
    aq += 16;
    bp += 16;
  }
  if (mr == 2 * MR && nr == 4) {
    // Whole tile: C = prior + acc as vectors, prior = (loadC ? C : 0) + bias as in kernel4x8.
    const bias0123 = biasp ? v128.load(biasp) : f32x4.splat(0);
    const rowStep = <usize>ldc << 2;
    let ci = c;
    mergeRow(ci, bias0123, acc0x0123, loadC); ci += rowStep;
    mergeRow(ci, bias0123, acc1x0123, loadC); ci += rowStep;
    mergeRow(ci, bias0123, acc2x0123, loadC); ci += rowStep;
    mergeRow(ci, bias0123, acc3x0123, loadC); ci += rowStep;
    mergeRow(ci, bias0123, acc4x0123, loadC); ci += rowStep;
    mergeRow(ci, bias0123, acc5x0123, loadC); ci += rowStep;
    mergeRow(ci, bias0123, acc6x0123, loadC); ci += rowStep;
    mergeRow(ci, bias0123, acc7x0123, loadC);
    return;
  }
  const t = edgeTile;
  v128.store(t, acc0x0123);
  v128.store(t, acc1x0123, 16);
  v128.store(t, acc2x0123, 32);
  v128.store(t, acc3x0123, 48);
  v128.store(t, acc4x0123, 64);
  v128.store(t, acc5x0123, 80);
  v128.store(t, acc6x0123, 96);
  v128.store(t, acc7x0123, 112);
  mergeTile(t, 4, 1, c, ldc, mr, nr, loadC, biasp);
}

/**
 * Tail micro-kernel for 1-2 leftover columns: a 16x2 tile of C, vectorised down the rows
 * instead of across the columns (four packed A strips give 16 rows as four f32x4 loads, each
 * B value is broadcast), so no lane computes padding. Eight accumulators: acc0to3x0 holds
 * rows 0-3 of column 0. Writes the top-left mr×nr corner.
 */
function kernel16x2(kc: i32, ap: usize, stripBytes: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32, loadC: bool, biasp: usize): void {
  // Missing strips (mr <= 12) re-read the first one: their rows are computed and dropped.
  let a1p = mr > MR ? ap + stripBytes : ap;
  let a2p = mr > 2 * MR ? ap + 2 * stripBytes : ap;
  let a3p = mr > 3 * MR ? ap + 3 * stripBytes : ap;
  let acc0to3x0 = f32x4.splat(0), acc4to7x0 = f32x4.splat(0), acc8to11x0 = f32x4.splat(0), acc12to15x0 = f32x4.splat(0);
  let acc0to3x1 = f32x4.splat(0), acc4to7x1 = f32x4.splat(0), acc8to11x1 = f32x4.splat(0), acc12to15x1 = f32x4.splat(0);
  const bEnd = bp + (<usize>kc << 3);
  while (bp < bEnd) {
    const b0 = v128.load32_splat(bp);
    const b1 = v128.load32_splat(bp, 4);
    const a0to3 = v128.load(ap);
    acc0to3x0 = f32x4.add(acc0to3x0, f32x4.mul(a0to3, b0));
    acc0to3x1 = f32x4.add(acc0to3x1, f32x4.mul(a0to3, b1));
    const a4to7 = v128.load(a1p);
    acc4to7x0 = f32x4.add(acc4to7x0, f32x4.mul(a4to7, b0));
    acc4to7x1 = f32x4.add(acc4to7x1, f32x4.mul(a4to7, b1));
    const a8to11 = v128.load(a2p);
    acc8to11x0 = f32x4.add(acc8to11x0, f32x4.mul(a8to11, b0));
    acc8to11x1 = f32x4.add(acc8to11x1, f32x4.mul(a8to11, b1));
    const a12to15 = v128.load(a3p);
    acc12to15x0 = f32x4.add(acc12to15x0, f32x4.mul(a12to15, b0));
    acc12to15x1 = f32x4.add(acc12to15x1, f32x4.mul(a12to15, b1));
    ap += 16;
    a1p += 16;
    a2p += 16;
    a3p += 16;
    bp += 8;
  }
  // Column-major spill: element (i, j) at t[j*16 + i].
  const t = edgeTile;
  v128.store(t, acc0to3x0);
  v128.store(t, acc4to7x0, 16);
  v128.store(t, acc8to11x0, 32);
  v128.store(t, acc12to15x0, 48);
  v128.store(t, acc0to3x1, 64);
  v128.store(t, acc4to7x1, 80);
  v128.store(t, acc8to11x1, 96);
  v128.store(t, acc12to15x1, 112);
  mergeTile(t, 1, 16, c, ldc, mr, nr, loadC, biasp);
}

/** k = 0: C = (acc ? C : 0) + bias. */
function initOnly(m: i32, n: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    const ci = c + (<usize>(i * ldc) << 2);
    for (let j = 0; j < n; j++) {
      const o = <usize>j << 2;
      let s: f32 = acc ? load<f32>(ci + o) : 0;
      if (bias) s += load<f32>(bias + o);
      store<f32>(ci + o, s);
    }
  }
}

/** Inputs per chunk of the batch-1 kernels that skip zero inputs (gemv_f32_skip_zeros, conv2d's by-inputs path). */
export const LIVE_MAX = 1024;
/** The indices of a chunk's nonzero inputs (4 KiB), written by {@link liveIndices}. */
export const gemmLive: usize = memory.data(LIVE_MAX * 4, 16);

/**
 * Indices (from 0) of the nonzero values of x[0:k] (k ≤ LIVE_MAX) into gemmLive, ascending;
 * returns their count. Sixteen inputs per step: four compares give a 16-bit mask of the nonzero
 * ones (a run of zeros, an image's border, costs that alone), whose set bits are listed lowest
 * first. Measured on the pruned LeNet-300-100's MNIST inputs (~142 of 784 nonzero): 0.33 µs
 * against 1.5 µs for a test per four inputs and a branch-free store per input (the per-four
 * branch mispredicted on images).
 */
export function liveIndices(x: usize, k: i32): i32 {
  const zero = f32x4.splat(0);
  let n = 0, p = 0;
  for (; p + 16 <= k; p += 16) {
    const a = x + (<usize>p << 2);
    let m = i32x4.bitmask(f32x4.ne(v128.load(a), zero)) | (i32x4.bitmask(f32x4.ne(v128.load(a, 16), zero)) << 4)
      | (i32x4.bitmask(f32x4.ne(v128.load(a, 32), zero)) << 8) | (i32x4.bitmask(f32x4.ne(v128.load(a, 48), zero)) << 12);
    while (m) {
      store<i32>(gemmLive + (<usize>n << 2), p + ctz(m));
      n++;
      m &= m - 1;
    }
  }
  for (; p < k; p++) {
    store<i32>(gemmLive + (<usize>n << 2), p);
    n += i32(load<f32>(x + (<usize>p << 2)) != 0);
  }
  return n;
}

