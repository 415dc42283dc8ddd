// Monte-Carlo prediction of a pruned model through the local reparameterization trick (Kingma
// et al. 2015): a Bayesian layer's pre-activation b = x·θ + sqrt(x²·σ² + 1e-8)·ε + bias is
// drawn from two products over the kept weights and one Gaussian per pass and output.
//
// Layout: feature-major, as the CSR kernels of sparse.ts (u16 column indices only: a layer of
// more than 65536 inputs takes the step-by-step path): X [k, n] with the n columns (the
// Monte-Carlo passes of each sample, pass-major: column q·c + r is pass q of sample r)
// contiguous, so every kept weight is one broadcast and n/4 vector multiply-adds. The mean and
// the variance products read the same structure, so one sweep over it computes both: the
// indices and the input row are loaded once for the two sums.
//
// Every output sums its terms in CSR order from +0 in the SIMD kernels and in their scalar
// twins alike; a column's value never depends on the other columns, so the results do not
// depend on how many samples or passes share a call.

const VAR_EPS: f32 = 1e-8;

/** Columns [j0, n) of row i of {@link lrt_spmm_f32_csr}, one at a time (the twin's loop, the SIMD kernel's tail). */
// @ts-ignore: decorator
@inline function lrtSpmmTail(p0: i32, p1: i32, j0: i32, n: i32, colIdx: usize, theta: usize, sigma2: usize, x: usize, xStep: usize, muRow: usize, vRow: usize): void {
  for (let j = j0; j < n; j++) {
    let m: f32 = 0, s: f32 = 0;
    const xCol = x + (<usize>j << 2);
    for (let p = p0; p < p1; p++) {
      const xv = load<f32>(xCol + <usize>load<u16>(colIdx + (<usize>p << 1)) * xStep);
      m += load<f32>(theta + (<usize>p << 2)) * xv;
      s += load<f32>(sigma2 + (<usize>p << 2)) * (xv * xv);
    }
    store<f32>(muRow + (<usize>j << 2), m);
    store<f32>(vRow + (<usize>j << 2), s);
  }
}

function checkLrtSpmm(m: i32, k: i32, n: i32, rowPtr: usize, ldx: i32, ldy: i32): void {
  assert(m >= 0 && k >= 0 && k <= 65536 && n >= 0, 'lrt_spmm: m, n must be >= 0, k in [0, 65536]');
  assert(ldx >= n && ldy >= n, 'lrt_spmm: leading dimension shorter than a row');
  assert(load<u32>(rowPtr) == 0, 'lrt_spmm: rowPtr[0] must be 0');
}

/**
 * The two products of local reparameterization over one sparse structure A [m, k] (CSR: rowPtr
 * m + 1 u32, colIdx nnz u16, so k ≤ 65536, with two value arrays of nnz f32: the means θ and the
 * variances σ²): mu = A_θ·X and v = A_σ²·(X ⊙ X), X [k, n] (ldx), mu and v [m, n] (ldy),
 * elements. Each sum in CSR order from +0; x² rounded to f32 before its product. mu and v must
 * not overlap X. SIMD over n: four columns a step, their two accumulators in registers over the
 * row's kept weights (a Monte-Carlo batch's columns are padded to a multiple of 4).
 */
export function lrt_spmm_f32_csr(m: i32, k: i32, n: i32, rowPtr: usize, colIdx: usize, theta: usize, sigma2: usize,
  x: usize, ldx: i32, mu: usize, v: usize, ldy: i32): void {
  lrtSpmmRows(true, m, k, n, rowPtr, colIdx, theta, sigma2, x, ldx, mu, v, ldy);
}

/** Scalar twin of {@link lrt_spmm_f32_csr} (column by column, the same order of terms). */
export function lrt_spmm_f32_csr_scalar(m: i32, k: i32, n: i32, rowPtr: usize, colIdx: usize, theta: usize, sigma2: usize,
  x: usize, ldx: i32, mu: usize, v: usize, ldy: i32): void {
  lrtSpmmRows(false, m, k, n, rowPtr, colIdx, theta, sigma2, x, ldx, mu, v, ldy);
}

/** {@link lrt_spmm_f32_csr} (simd) or its twin: the rows, four columns a step with simd, the rest one by one. */
// @ts-ignore: decorator
@inline function lrtSpmmRows(simd: bool, m: i32, k: i32, n: i32, rowPtr: usize, colIdx: usize, theta: usize, sigma2: usize,
  x: usize, ldx: i32, mu: usize, v: usize, ldy: i32): void {
  checkLrtSpmm(m, k, n, rowPtr, ldx, ldy);
  const xStep = <usize>ldx << 2;
  for (let i = 0; i < m; i++) {
    const p0 = <i32>load<u32>(rowPtr + (<usize>i << 2));
    const p1 = <i32>load<u32>(rowPtr + (<usize>(i + 1) << 2));
    const muRow = mu + (<usize>(i * ldy) << 2), vRow = v + (<usize>(i * ldy) << 2);
    let j = 0;
    if (simd) {
      for (; j + 4 <= n; j += 4) {
        let m0 = f32x4.splat(0), s0 = f32x4.splat(0);
        const xCol = x + (<usize>j << 2);
        for (let p = p0; p < p1; p++) {
          const x0 = v128.load(xCol + <usize>load<u16>(colIdx + (<usize>p << 1)) * xStep);
          m0 = f32x4.add(m0, f32x4.mul(f32x4.splat(load<f32>(theta + (<usize>p << 2))), x0));
          s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(load<f32>(sigma2 + (<usize>p << 2))), f32x4.mul(x0, x0)));
        }
        v128.store(muRow + (<usize>j << 2), m0);
        v128.store(vRow + (<usize>j << 2), s0);
      }
    }
    lrtSpmmTail(p0, p1, j, n, colIdx, theta, sigma2, x, xStep, muRow, vRow);
  }
}

/** One output of {@link lrt_draw_f32}: (mean, variance) → act(μ + sqrt(v + 1e-8)·ε + bias). */
// @ts-ignore: decorator
@inline function drawOne(mu: f32, v: f32, e: f32, b: f32, relu: bool): f32 {
  const y = (mu + sqrt<f32>(v + VAR_EPS) * e) + b;
  return relu ? max<f32>(y, 0) : y;
}

function checkDraw(m: i32, n: i32, c: i32): void {
  assert(m >= 0 && n >= 0 && c >= 1, 'lrt_draw: m, n must be >= 0, c >= 1');
}

/**
 * The pre-activation draw of a Bayesian layer, feature-major: out[u, j] (u < m, j < n; row
 * stride n) = act(mu[u, j mod c] + sqrt(v[u, j mod c] + 1e-8)·ε[j, u] + bias[u]), with mu and v
 * [m, c] (row stride c: c = n, one column each, or the c samples' products shared by the
 * passes), ε [n, m] row-major (one row of Gaussians per column: pass q of sample r is column
 * q·c + r; columns past the last pass are padding, with rows of ε that stay 0), bias m f32
 * (0 = none) and act the identity (relu = 0) or max(·, 0) (relu = 1).
 * SIMD over j (contiguous when c = n, else gathered).
 */
export function lrt_draw_f32(m: i32, n: i32, c: i32, mu: usize, v: usize, eps: usize, bias: usize, relu: i32, out: usize): void {
  checkDraw(m, n, c);
  const zero = f32x4.splat(0), vEps = f32x4.splat(VAR_EPS);
  const epsStep = <usize>m << 2;
  for (let u = 0; u < m; u++) {
    const b: f32 = bias ? load<f32>(bias + (<usize>u << 2)) : 0;
    const vb = f32x4.splat(b);
    const muRow = mu + (<usize>(u * c) << 2), vRow = v + (<usize>(u * c) << 2), outRow = out + (<usize>(u * n) << 2);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      let m4: v128, v4: v128;
      if (c == n) {
        m4 = v128.load(muRow + (<usize>j << 2));
        v4 = v128.load(vRow + (<usize>j << 2));
      } else {
        const j0 = <usize>(j % c) << 2, j1 = <usize>((j + 1) % c) << 2, j2 = <usize>((j + 2) % c) << 2, j3 = <usize>((j + 3) % c) << 2;
        m4 = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(muRow + j0)), 1, load<f32>(muRow + j1)), 2, load<f32>(muRow + j2)), 3, load<f32>(muRow + j3));
        v4 = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(vRow + j0)), 1, load<f32>(vRow + j1)), 2, load<f32>(vRow + j2)), 3, load<f32>(vRow + j3));
      }
      // ε of columns j..j+3 for unit u: one element of each of four Gaussian rows.
      const e0 = eps + <usize>j * epsStep + (<usize>u << 2);
      const e4 = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(e0)), 1, load<f32>(e0 + epsStep)), 2, load<f32>(e0 + 2 * epsStep)), 3, load<f32>(e0 + 3 * epsStep));
      let y = f32x4.add(f32x4.add(m4, f32x4.mul(f32x4.sqrt(f32x4.add(v4, vEps)), e4)), vb);
      if (relu) y = f32x4.max(y, zero);
      v128.store(outRow + (<usize>j << 2), y);
    }
    for (; j < n; j++) {
      const s = <usize>(j % c) << 2;
      store<f32>(outRow + (<usize>j << 2), drawOne(load<f32>(muRow + s), load<f32>(vRow + s), load<f32>(eps + <usize>j * epsStep + (<usize>u << 2)), b, relu != 0));
    }
  }
}

/** Scalar twin of {@link lrt_draw_f32}. */
export function lrt_draw_f32_scalar(m: i32, n: i32, c: i32, mu: usize, v: usize, eps: usize, bias: usize, relu: i32, out: usize): void {
  checkDraw(m, n, c);
  for (let u = 0; u < m; u++) {
    const b: f32 = bias ? load<f32>(bias + (<usize>u << 2)) : 0;
    for (let j = 0; j < n; j++) {
      const s = <usize>(u * c + j % c) << 2;
      store<f32>(out + (<usize>(u * n + j) << 2), drawOne(load<f32>(mu + s), load<f32>(v + s), load<f32>(eps + (<usize>(j * m + u) << 2)), b, relu != 0));
    }
  }
}
