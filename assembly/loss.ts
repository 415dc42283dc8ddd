// Regression losses and predictive-uncertainty reductions. Pointers are byte offsets,
// rows/cols/n element counts. Each returns the f64 sum of per-element losses and writes
// scale·∂loss/∂prediction when the gradient pointer is non-zero.

/** Σ ½(p − t)²; dp = scale·(p − t). */
export function mse_f32(p: usize, t: usize, n: i32, dp: usize, scale: f32): f64 {
  assert(n >= 0, 'n must be >= 0');
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const d = load<f32>(p + o) - load<f32>(t + o);
    sum += 0.5 * <f64>d * <f64>d;
    if (dp) store<f32>(dp + o, scale * d);
  }
  return sum;
}

/** Smallest log-variance the Gaussian NLL accepts (σ ≥ e^-6): keeps 1/σ² finite. */
const MIN_LOG_VAR: f32 = -12;

/**
 * Gaussian negative log-likelihood with a predicted variance: out is [rows, 2·cols] holding
 * the means then the log-variances of each row; t is [rows, cols].
 * Σ ½(log 2π + s + (t − μ)²·e^(−s)), s = max(logVar, −12); dμ = scale·(μ − t)·e^(−s),
 * ds = scale·½(1 − (t − μ)²·e^(−s)) (0 where clamped).
 */
export function gaussian_nll_f32(out: usize, t: usize, rows: i32, cols: i32, dout: usize, scale: f32): f64 {
  assert(rows >= 0 && cols >= 0, 'rows, cols must be >= 0');
  const LOG_2PI: f64 = 1.8378770664093453;
  let sum: f64 = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const om = <usize>(r * 2 * cols + c) << 2;
      const os = om + (<usize>cols << 2);
      const mu = load<f32>(out + om);
      const raw = load<f32>(out + os);
      const s = max<f32>(raw, MIN_LOG_VAR);
      const d = load<f32>(t + (<usize>(r * cols + c) << 2)) - mu;
      const inv = Mathf.exp(-s);
      sum += 0.5 * (LOG_2PI + <f64>s + <f64>(d * d * inv));
      if (dout) {
        store<f32>(dout + om, -scale * d * inv);
        store<f32>(dout + os, raw > MIN_LOG_VAR ? scale * 0.5 * (1 - d * d * inv) : 0);
      }
    }
  }
  return sum;
}

/** out[r] (+)= −Σ_c p[r,c]·log p[r,c] (entropy in nats of each probability row; 0·log 0 = 0). */
export function entropy_rows_f32(p: usize, rows: i32, cols: i32, out: usize, acc: i32): void {
  assert(rows >= 0 && cols >= 0, 'rows, cols must be >= 0');
  for (let r = 0; r < rows; r++) {
    let h: f32 = 0;
    for (let c = 0; c < cols; c++) {
      const v = load<f32>(p + (<usize>(r * cols + c) << 2));
      if (v > 0) h -= v * Mathf.log(v);
    }
    const o = out + (<usize>r << 2);
    store<f32>(o, acc ? load<f32>(o) + h : h);
  }
}
