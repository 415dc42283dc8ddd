// Dense matrix products, row-major f32. Pointers are byte offsets; m, n, k and the leading
// dimensions (lda, ldb, ldc) are in elements. bias (length n, added to every row) is optional:
// pass 0 for none. acc = 0 overwrites C, acc = 1 adds to it. C must not overlap A, B or bias.
//
// Structure (GotoBLAS / BLIS): the k dimension is cut into blocks of at most KC, n into blocks
// of at most NC and m into blocks of at most MC. Each KC×NC block of B is packed into panels of
// NR = 8 columns and each MC×KC block of A into strips of MR = 4 rows, both k-major, so the
// 4x8 micro-kernel reads two contiguous streams whatever the layout (nn, nt, tn): only the
// packing routines know the layout. Eight f32x4 accumulators + two B vectors + one broadcast
// A value fit V8's 15 usable xmm registers; larger tiles spilled (see TOOLCHAIN.md).
// Within one k-block every output is summed in plain p order, as in the scalar twins; across
// k-blocks the partial sums are added to C, so results are deterministic but may differ from
// the scalar twin in the last bits when k > KC.
//
// The packing buffers are static (memory.data, below __heap_base), which makes these kernels
// non-reentrant; wasm here is single-threaded, so that is fine.

const MR = 4;
const NR = 8;
/** k-block: a packed 8-column B panel (KC×8 floats = 8 KiB) stays in L1 while A streams. */
const KC = 256;
/** m-block: the packed A block (MC×KC floats = 128 KiB) stays in L2. */
const MC = 128;
/** n-block: the packed B block (KC×NC floats = 512 KiB). */
const NC = 512;

const packA: usize = memory.data(MC * KC * 4, 16);
const packB: usize = memory.data(KC * NC * 4, 16);
/** One MR×NR tile for edge tiles, written whole and then merged into C element by element. */
const edgeTile: usize = memory.data(MR * NR * 4, 16);

/** Bytes of static scratch the GEMM kernels reserve (informational: nothing to pass). */
export function gemm_f32_scratch_bytes(): i32 {
  return (MC * KC + KC * NC + MR * NR) * 4;
}

/** C[m×n] (=|+=) A[m×k] · B[k×n] (+ bias). */
export function gemm_f32_nn(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  checkArgs(m, n, k, lda, k, ldb, n, ldc);
  if (m == 1 && k > 0) gemvRowStream(n, k, a, 1, b, ldb, c, bias, acc);
  else gemmBlocked(false, false, m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

/** C[m×n] (=|+=) A[m×k] · B[n×k]ᵀ (+ bias). */
export function gemm_f32_nt(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  checkArgs(m, n, k, lda, k, ldb, k, ldc);
  gemmBlocked(false, true, m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

/** C[m×n] (=|+=) A[k×m]ᵀ · B[k×n] (+ bias). */
export function gemm_f32_tn(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  checkArgs(m, n, k, lda, m, ldb, n, ldc);
  if (m == 1 && k > 0) gemvRowStream(n, k, a, lda, b, ldb, c, bias, acc);
  else gemmBlocked(true, false, m, n, k, a, lda, b, ldb, c, ldc, bias, acc);
}

// @ts-ignore: decorator
@inline
function checkArgs(m: i32, n: i32, k: i32, lda: i32, rowA: i32, ldb: i32, rowB: i32, ldc: i32): void {
  assert(m >= 0 && n >= 0 && k >= 0, 'gemm: m, n, k must be >= 0');
  assert(lda >= rowA && ldb >= rowB && ldc >= n, 'gemm: leading dimension shorter than a row');
}

/** Loop nest of the blocked product; transA / transB select the packing routines. */
function gemmBlocked(transA: bool, transB: bool, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
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
      const r0 = v128.load(s0 + o), r1 = v128.load(s1 + o), r2 = v128.load(s2 + o), r3 = v128.load(s3 + o);
      // 4x4 transpose: column q of (r0..r3) becomes packed row p+q.
      const t01lo = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
      const t01hi = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
      const t23lo = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
      const t23hi = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const dp = d + dstStep * <usize>p;
      v128.store(dp, v128.shuffle<f32>(t01lo, t23lo, 0, 1, 4, 5));
      v128.store(dp + dstStep, v128.shuffle<f32>(t01lo, t23lo, 2, 3, 6, 7));
      v128.store(dp + 2 * dstStep, v128.shuffle<f32>(t01hi, t23hi, 0, 1, 4, 5));
      v128.store(dp + 3 * dstStep, v128.shuffle<f32>(t01hi, t23hi, 2, 3, 6, 7));
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

/** Columns per chunk of the streaming GEMV: its partial sums (4 KiB) stay in L1. */
const GEMV_COLS = 1024;

/**
 * m = 1 (a row vector times B[k×n]): packing cannot pay off since B is read once, and the
 * product is bound by how fast B streams in. So walk B row by row (contiguous), four rows per
 * pass, adding into partial sums d[j] kept in the packB scratch; then C = prior + d. Each d[j]
 * is still summed in p order. x[p] sits at x[p*incx]. Measured 1x784x300: 31-35 GFLOP/s,
 * against 24 for a column-block form with register accumulators and strided rows.
 */
function gemvRowStream(n: i32, k: i32, x: usize, incx: i32, b: usize, ldb: i32, c: usize, bias: usize, acc: i32): void {
  const d = packB;
  const xStep = <usize>incx << 2;
  const bStep = <usize>ldb << 2;
  for (let j0 = 0; j0 < n; j0 += GEMV_COLS) {
    const w = min(GEMV_COLS, n - j0);
    const w4 = w & ~3;
    memory.fill(d, 0, <usize>w << 2);
    let xp = x;
    let b0 = b + (<usize>j0 << 2);
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const x0 = v128.load32_splat(xp);
      const x1 = v128.load32_splat(xp + xStep);
      const x2 = v128.load32_splat(xp + 2 * xStep);
      const x3 = v128.load32_splat(xp + 3 * xStep);
      const b1 = b0 + bStep, b2 = b1 + bStep, b3 = b2 + bStep;
      // Pointers bumped rather than base + offset: wasm32 addresses cost an add each.
      let dp = d, q0 = b0, q1 = b1, q2 = b2, q3 = b3;
      const dEnd8 = d + (<usize>(w & ~7) << 2);
      while (dp < dEnd8) {
        let s0123 = v128.load(dp), s4567 = v128.load(dp, 16);
        s0123 = f32x4.add(s0123, f32x4.mul(x0, v128.load(q0)));
        s4567 = f32x4.add(s4567, f32x4.mul(x0, v128.load(q0, 16)));
        s0123 = f32x4.add(s0123, f32x4.mul(x1, v128.load(q1)));
        s4567 = f32x4.add(s4567, f32x4.mul(x1, v128.load(q1, 16)));
        s0123 = f32x4.add(s0123, f32x4.mul(x2, v128.load(q2)));
        s4567 = f32x4.add(s4567, f32x4.mul(x2, v128.load(q2, 16)));
        s0123 = f32x4.add(s0123, f32x4.mul(x3, v128.load(q3)));
        s4567 = f32x4.add(s4567, f32x4.mul(x3, v128.load(q3, 16)));
        v128.store(dp, s0123);
        v128.store(dp, s4567, 16);
        dp += 32; q0 += 32; q1 += 32; q2 += 32; q3 += 32;
      }
      for (let j = w & ~7; j < w4; j += 4) {
        const o = <usize>j << 2;
        let s = v128.load(d + o);
        s = f32x4.add(s, f32x4.mul(x0, v128.load(b0 + o)));
        s = f32x4.add(s, f32x4.mul(x1, v128.load(b1 + o)));
        s = f32x4.add(s, f32x4.mul(x2, v128.load(b2 + o)));
        s = f32x4.add(s, f32x4.mul(x3, v128.load(b3 + o)));
        v128.store(d + o, s);
      }
      for (let j = w4; j < w; j++) {
        const o = <usize>j << 2;
        let s = load<f32>(d + o);
        s += load<f32>(xp) * load<f32>(b0 + o);
        s += load<f32>(xp + xStep) * load<f32>(b1 + o);
        s += load<f32>(xp + 2 * xStep) * load<f32>(b2 + o);
        s += load<f32>(xp + 3 * xStep) * load<f32>(b3 + o);
        store<f32>(d + o, s);
      }
      xp += 4 * xStep;
      b0 = b3 + bStep;
    }
    for (; p < k; p++) {
      const x0 = v128.load32_splat(xp);
      for (let j = 0; j < w4; j += 4) {
        const o = <usize>j << 2;
        v128.store(d + o, f32x4.add(v128.load(d + o), f32x4.mul(x0, v128.load(b0 + o))));
      }
      const xs = load<f32>(xp);
      for (let j = w4; j < w; j++) {
        const o = <usize>j << 2;
        store<f32>(d + o, load<f32>(d + o) + xs * load<f32>(b0 + o));
      }
      xp += xStep;
      b0 += bStep;
    }
    const cj = c + (<usize>j0 << 2);
    const bj = bias ? bias + (<usize>j0 << 2) : 0;
    for (let j = 0; j < w; j++) {
      const o = <usize>j << 2;
      let s: f32 = acc ? load<f32>(cj + o) : 0;
      if (bj) s += load<f32>(bj + o);
      store<f32>(cj + o, s + load<f32>(d + o));
    }
  }
}

/**
 * Plain-SIMD throughput probe for benchmarks: 12 independent chains acc = acc·x + 1 (one
 * f32x4.mul and one f32x4.add each), two rounds per iteration: 192 flops per iteration.
 * The multiplied operand is the chain itself, so nothing is loop-invariant for V8 to hoist;
 * x = 0.5 keeps every chain near its fixed point 2 (no overflow, no denormals). Twelve chains
 * cover the mul + add latency (10 did not quite); 12 + 2 constants still fit in registers.
 * Returns a sum so the work stays live.
 */
export function simd_peak_f32(iters: i32): f32 {
  const x = f32x4.splat(0.5), one = f32x4.splat(1);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(1), acc2 = f32x4.splat(2), acc3 = f32x4.splat(3);
  let acc4 = f32x4.splat(4), acc5 = f32x4.splat(5), acc6 = f32x4.splat(6), acc7 = f32x4.splat(7);
  let acc8 = f32x4.splat(8), acc9 = f32x4.splat(9), acc10 = f32x4.splat(10), acc11 = f32x4.splat(11);
  for (let i = 0; i < iters; i++) {
    // Round 1.
    acc0 = f32x4.add(f32x4.mul(acc0, x), one);
    acc1 = f32x4.add(f32x4.mul(acc1, x), one);
    acc2 = f32x4.add(f32x4.mul(acc2, x), one);
    acc3 = f32x4.add(f32x4.mul(acc3, x), one);
    acc4 = f32x4.add(f32x4.mul(acc4, x), one);
    acc5 = f32x4.add(f32x4.mul(acc5, x), one);
    acc6 = f32x4.add(f32x4.mul(acc6, x), one);
    acc7 = f32x4.add(f32x4.mul(acc7, x), one);
    acc8 = f32x4.add(f32x4.mul(acc8, x), one);
    acc9 = f32x4.add(f32x4.mul(acc9, x), one);
    acc10 = f32x4.add(f32x4.mul(acc10, x), one);
    acc11 = f32x4.add(f32x4.mul(acc11, x), one);
    // Round 2 (written out: binaryen does not unroll the loop).
    acc0 = f32x4.add(f32x4.mul(acc0, x), one);
    acc1 = f32x4.add(f32x4.mul(acc1, x), one);
    acc2 = f32x4.add(f32x4.mul(acc2, x), one);
    acc3 = f32x4.add(f32x4.mul(acc3, x), one);
    acc4 = f32x4.add(f32x4.mul(acc4, x), one);
    acc5 = f32x4.add(f32x4.mul(acc5, x), one);
    acc6 = f32x4.add(f32x4.mul(acc6, x), one);
    acc7 = f32x4.add(f32x4.mul(acc7, x), one);
    acc8 = f32x4.add(f32x4.mul(acc8, x), one);
    acc9 = f32x4.add(f32x4.mul(acc9, x), one);
    acc10 = f32x4.add(f32x4.mul(acc10, x), one);
    acc11 = f32x4.add(f32x4.mul(acc11, x), one);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(acc0, acc1), f32x4.add(acc2, acc3)), f32x4.add(f32x4.add(acc4, acc5), f32x4.add(acc6, acc7))),
    f32x4.add(f32x4.add(acc8, acc9), f32x4.add(acc10, acc11)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/** Scalar twin of {@link gemm_f32_nn}: the test oracle. */
export function gemm_f32_nn_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = acc ? load<f32>(c + (<usize>(i * ldc + j) << 2)) : 0;
      if (bias) s += load<f32>(bias + (<usize>j << 2));
      let d: f32 = 0;
      for (let p = 0; p < k; p++) d += load<f32>(a + (<usize>(i * lda + p) << 2)) * load<f32>(b + (<usize>(p * ldb + j) << 2));
      store<f32>(c + (<usize>(i * ldc + j) << 2), s + d);
    }
  }
}

/** Scalar twin of {@link gemm_f32_nt}. */
export function gemm_f32_nt_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = acc ? load<f32>(c + (<usize>(i * ldc + j) << 2)) : 0;
      if (bias) s += load<f32>(bias + (<usize>j << 2));
      let d: f32 = 0;
      for (let p = 0; p < k; p++) d += load<f32>(a + (<usize>(i * lda + p) << 2)) * load<f32>(b + (<usize>(j * ldb + p) << 2));
      store<f32>(c + (<usize>(i * ldc + j) << 2), s + d);
    }
  }
}

/** Scalar twin of {@link gemm_f32_tn}. */
export function gemm_f32_tn_scalar(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, bias: usize, acc: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = acc ? load<f32>(c + (<usize>(i * ldc + j) << 2)) : 0;
      if (bias) s += load<f32>(bias + (<usize>j << 2));
      let d: f32 = 0;
      for (let p = 0; p < k; p++) d += load<f32>(a + (<usize>(p * lda + i) << 2)) * load<f32>(b + (<usize>(p * ldb + j) << 2));
      store<f32>(c + (<usize>(i * ldc + j) << 2), s + d);
    }
  }
}
