// Batch normalisation over the rows of a row-major [M, C] f32 matrix: C channels contiguous,
// M = N·H·W for NHWC images or M = batch for dense layers. Pointers are byte offsets, M and C
// element counts. Per-channel statistics are accumulated in f64 (two passes: mean, then
// Σ(x − mean)²), channel-parallel in f64x2 lanes, rows in order, so each channel's sums are
// formed exactly as in the scalar twins and the results agree bit for bit.
//
// `work` is caller-provided scratch of at least 16·C bytes (kernels never allocate).
// Running statistics follow PyTorch: running = (1 − momentum)·running + momentum·batch, with
// the unbiased batch variance (·M/(M − 1)) for running_var; normalisation uses the biased one.

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}
@inline function at64(p: usize, i: i32): usize {
  return p + (<usize>i << 3);
}
@inline function promoteHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

/** work64[c] += Σ over rows of f(x) where f is x (center = 0) or (x − center[c])², in f64. */
function channelSums(x: usize, M: i32, C: i32, center: usize, squared: bool, out64: usize): void {
  memory.fill(out64, 0, <usize>C << 3);
  for (let r = 0; r < M; r++) {
    const xr = at(x, r * C);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const v = v128.load(at(xr, c));
      let d01 = f64x2.promote_low_f32x4(v), d23 = promoteHigh(v);
      if (squared) {
        d01 = f64x2.sub(d01, v128.load(at64(center, c)));
        d23 = f64x2.sub(d23, v128.load(at64(center, c + 2)));
        d01 = f64x2.mul(d01, d01);
        d23 = f64x2.mul(d23, d23);
      }
      v128.store(at64(out64, c), f64x2.add(v128.load(at64(out64, c)), d01));
      v128.store(at64(out64, c + 2), f64x2.add(v128.load(at64(out64, c + 2)), d23));
    }
    for (; c < C; c++) channelSum1(xr, c, center, squared, out64);
  }
}

@inline function channelSum1(xr: usize, c: i32, center: usize, squared: bool, out64: usize): void {
  let d = <f64>load<f32>(at(xr, c));
  if (squared) {
    d -= load<f64>(at64(center, c));
    d *= d;
  }
  store<f64>(at64(out64, c), load<f64>(at64(out64, c)) + d);
}

function channelSumsScalar(x: usize, M: i32, C: i32, center: usize, squared: bool, out64: usize): void {
  for (let c = 0; c < C; c++) {
    store<f64>(at64(out64, c), 0);
    for (let r = 0; r < M; r++) channelSum1(at(x, r * C), c, center, squared, out64);
  }
}

/**
 * From the f64 sums in work (Σx at [0, 8C), Σ(x−mean)² at [8C, 16C)): write mean and invstd,
 * update the running statistics, then leave s[c] = γ[c]·invstd[c] as f32 at work[0, 4C).
 */
function finishStats(M: i32, C: i32, gamma: usize, mean: usize, invstd: usize, runMean: usize, runVar: usize,
  momentum: f32, eps: f32, work: usize): void {
  const mom = <f64>momentum;
  const unbias: f64 = M > 1 ? <f64>M / <f64>(M - 1) : 1;
  const q = work + (<usize>C << 3);
  for (let c = 0; c < C; c++) {
    const mu = load<f64>(at64(work, c));
    const v = load<f64>(at64(q, c)) / <f64>M;
    store<f32>(at(mean, c), <f32>mu);
    store<f32>(at(invstd, c), <f32>(1 / Math.sqrt(v + <f64>eps)));
    if (runMean) store<f32>(at(runMean, c), <f32>((1 - mom) * <f64>load<f32>(at(runMean, c)) + mom * mu));
    if (runVar) store<f32>(at(runVar, c), <f32>((1 - mom) * <f64>load<f32>(at(runVar, c)) + mom * v * unbias));
  }
  // The f64 sums are consumed: reuse the front of work for the per-channel scale.
  for (let c = 0; c < C; c++) store<f32>(at(work, c), load<f32>(at(gamma, c)) * load<f32>(at(invstd, c)));
}

/** y[r, c] = (x[r, c] − mean[c])·s[c] + beta[c]. */
function normalize(x: usize, y: usize, M: i32, C: i32, mean: usize, s: usize, beta: usize): void {
  for (let r = 0; r < M; r++) {
    const xr = at(x, r * C), yr = at(y, r * C);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const d = f32x4.sub(v128.load(at(xr, c)), v128.load(at(mean, c)));
      v128.store(at(yr, c), f32x4.add(f32x4.mul(d, v128.load(at(s, c))), v128.load(at(beta, c))));
    }
    for (; c < C; c++) normalize1(xr, yr, c, mean, s, beta);
  }
}

@inline function normalize1(xr: usize, yr: usize, c: i32, mean: usize, s: usize, beta: usize): void {
  store<f32>(at(yr, c), (load<f32>(at(xr, c)) - load<f32>(at(mean, c))) * load<f32>(at(s, c)) + load<f32>(at(beta, c)));
}

function normalizeScalar(x: usize, y: usize, M: i32, C: i32, mean: usize, s: usize, beta: usize): void {
  for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) normalize1(at(x, r * C), at(y, r * C), c, mean, s, beta);
}

/**
 * Training forward. x, y: [M, C] (y may be x); gamma, beta: [C]; writes the batch mean[C] and
 * invstd[C] = 1/√(var + eps) (biased var) for the backward pass; updates runMean[C] and
 * runVar[C] in place unless their pointer is 0. momentum in [0, 1]; work: 16·C bytes.
 */
export function batchnorm_forward_train_f32(x: usize, y: usize, M: i32, C: i32, gamma: usize, beta: usize,
  mean: usize, invstd: usize, runMean: usize, runVar: usize, momentum: f32, eps: f32, work: usize): void {
  assert(M > 0 && C >= 0 && eps > 0, 'batchnorm_forward_train_f32: need M > 0, C >= 0, eps > 0');
  const q = work + (<usize>C << 3);
  channelSums(x, M, C, 0, false, work);
  for (let c = 0; c < C; c++) store<f64>(at64(work, c), load<f64>(at64(work, c)) / <f64>M);
  channelSums(x, M, C, work, true, q);
  finishStats(M, C, gamma, mean, invstd, runMean, runVar, momentum, eps, work);
  normalize(x, y, M, C, mean, work, beta);
}

/** Scalar twin of {@link batchnorm_forward_train_f32}. */
export function batchnorm_forward_train_f32_scalar(x: usize, y: usize, M: i32, C: i32, gamma: usize, beta: usize,
  mean: usize, invstd: usize, runMean: usize, runVar: usize, momentum: f32, eps: f32, work: usize): void {
  assert(M > 0 && C >= 0 && eps > 0, 'batchnorm_forward_train_f32_scalar: need M > 0, C >= 0, eps > 0');
  const q = work + (<usize>C << 3);
  channelSumsScalar(x, M, C, 0, false, work);
  for (let c = 0; c < C; c++) store<f64>(at64(work, c), load<f64>(at64(work, c)) / <f64>M);
  channelSumsScalar(x, M, C, work, true, q);
  finishStats(M, C, gamma, mean, invstd, runMean, runVar, momentum, eps, work);
  normalizeScalar(x, y, M, C, mean, work, beta);
}

/** s[c] = γ[c]/√(runVar[c] + eps) into work[0, 4C). */
function inferScale(C: i32, gamma: usize, runVar: usize, eps: f32, work: usize): void {
  for (let c = 0; c < C; c++) {
    const invstd = <f32>(1 / Math.sqrt(<f64>load<f32>(at(runVar, c)) + <f64>eps));
    store<f32>(at(work, c), load<f32>(at(gamma, c)) * invstd);
  }
}

/**
 * Inference forward with running statistics: y = (x − runMean)·γ/√(runVar + eps) + β.
 * x, y: [M, C] (y may be x); gamma, beta, runMean, runVar: [C]; work: 4·C bytes.
 */
export function batchnorm_forward_infer_f32(x: usize, y: usize, M: i32, C: i32, gamma: usize, beta: usize,
  runMean: usize, runVar: usize, eps: f32, work: usize): void {
  assert(M >= 0 && C >= 0 && eps > 0, 'batchnorm_forward_infer_f32: need M, C >= 0, eps > 0');
  inferScale(C, gamma, runVar, eps, work);
  normalize(x, y, M, C, runMean, work, beta);
}

/** Scalar twin of {@link batchnorm_forward_infer_f32}. */
export function batchnorm_forward_infer_f32_scalar(x: usize, y: usize, M: i32, C: i32, gamma: usize, beta: usize,
  runMean: usize, runVar: usize, eps: f32, work: usize): void {
  assert(M >= 0 && C >= 0 && eps > 0, 'batchnorm_forward_infer_f32_scalar: need M, C >= 0, eps > 0');
  inferScale(C, gamma, runVar, eps, work);
  normalizeScalar(x, y, M, C, runMean, work, beta);
}

// ---- backward ---------------------------------------------------------------------------
// With x̂ = (x − mean)·invstd, the standard result (Ioffe & Szegedy 2015, §3):
//   dβ = Σ_r dy,  dγ = Σ_r dy·x̂,  dx = γ·invstd·(dy − dβ/M − x̂·dγ/M).

/** Into work (f64): Σ dy at [0, 8C), Σ dy·x̂ at [8C, 16C). */
function backwardSums(dy: usize, x: usize, M: i32, C: i32, mean: usize, invstd: usize, work: usize): void {
  const q = work + (<usize>C << 3);
  memory.fill(work, 0, <usize>C << 4);
  for (let r = 0; r < M; r++) {
    const xr = at(x, r * C), gr = at(dy, r * C);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const g = v128.load(at(gr, c));
      const xh = f32x4.mul(f32x4.sub(v128.load(at(xr, c)), v128.load(at(mean, c))), v128.load(at(invstd, c)));
      const g01 = f64x2.promote_low_f32x4(g), g23 = promoteHigh(g);
      v128.store(at64(work, c), f64x2.add(v128.load(at64(work, c)), g01));
      v128.store(at64(work, c + 2), f64x2.add(v128.load(at64(work, c + 2)), g23));
      v128.store(at64(q, c), f64x2.add(v128.load(at64(q, c)), f64x2.mul(g01, f64x2.promote_low_f32x4(xh))));
      v128.store(at64(q, c + 2), f64x2.add(v128.load(at64(q, c + 2)), f64x2.mul(g23, promoteHigh(xh))));
    }
    for (; c < C; c++) backwardSum1(gr, xr, c, mean, invstd, work, q);
  }
}

@inline function backwardSum1(gr: usize, xr: usize, c: i32, mean: usize, invstd: usize, work: usize, q: usize): void {
  const g = <f64>load<f32>(at(gr, c));
  const xh = (load<f32>(at(xr, c)) - load<f32>(at(mean, c))) * load<f32>(at(invstd, c));
  store<f64>(at64(work, c), load<f64>(at64(work, c)) + g);
  store<f64>(at64(q, c), load<f64>(at64(q, c)) + g * <f64>xh);
}

function backwardSumsScalar(dy: usize, x: usize, M: i32, C: i32, mean: usize, invstd: usize, work: usize): void {
  const q = work + (<usize>C << 3);
  memory.fill(work, 0, <usize>C << 4);
  for (let c = 0; c < C; c++) for (let r = 0; r < M; r++) backwardSum1(at(dy, r * C), at(x, r * C), c, mean, invstd, work, q);
}

/**
 * Write dγ, dβ (accumulating if accParam) and turn work into f32 per-channel coefficients:
 * k1 = Σdy/M at [0, 4C), a = γ·invstd at [4C, 8C), k2 = Σdy·x̂/M at [8C, 12C). Writing f32 slot
 * c overwrites f64 slot c/2 ≤ c, already read, so the ascending loop is safe in place.
 */
function backwardCoefficients(M: i32, C: i32, gamma: usize, invstd: usize, dgamma: usize, dbeta: usize, accParam: i32, work: usize): void {
  const q = work + (<usize>C << 3);
  const invM = 1 / <f64>M;
  for (let c = 0; c < C; c++) {
    const sdy = load<f64>(at64(work, c)), sdyx = load<f64>(at64(q, c));
    if (dbeta) store<f32>(at(dbeta, c), <f32>(accParam ? <f64>load<f32>(at(dbeta, c)) + sdy : sdy));
    if (dgamma) store<f32>(at(dgamma, c), <f32>(accParam ? <f64>load<f32>(at(dgamma, c)) + sdyx : sdyx));
    store<f32>(at(work, c), <f32>(sdy * invM));
    store<f32>(at(q, c), <f32>(sdyx * invM));
  }
  const a = work + (<usize>C << 2);
  for (let c = 0; c < C; c++) store<f32>(at(a, c), load<f32>(at(gamma, c)) * load<f32>(at(invstd, c)));
}

@inline function backwardDx1(gr: usize, xr: usize, dxr: usize, c: i32, mean: usize, invstd: usize, k1: usize, a: usize, k2: usize, accDx: i32): void {
  const xh = (load<f32>(at(xr, c)) - load<f32>(at(mean, c))) * load<f32>(at(invstd, c));
  const d = load<f32>(at(a, c)) * ((load<f32>(at(gr, c)) - load<f32>(at(k1, c))) - xh * load<f32>(at(k2, c)));
  store<f32>(at(dxr, c), accDx ? load<f32>(at(dxr, c)) + d : d);
}

/**
 * Training backward. dy, x, dx: [M, C] (dx may be dy); mean, invstd: [C] saved by the
 * training forward; gamma: [C]. dx (=|+=) per accDx; dgamma, dbeta: [C] (=|+=) per accParam,
 * either may be 0 to skip. work: 16·C bytes.
 */
export function batchnorm_backward_f32(dy: usize, x: usize, mean: usize, invstd: usize, gamma: usize, dx: usize,
  dgamma: usize, dbeta: usize, M: i32, C: i32, accDx: i32, accParam: i32, work: usize): void {
  assert(M > 0 && C >= 0, 'batchnorm_backward_f32: need M > 0, C >= 0');
  backwardSums(dy, x, M, C, mean, invstd, work);
  backwardCoefficients(M, C, gamma, invstd, dgamma, dbeta, accParam, work);
  const k1 = work, a = work + (<usize>C << 2), k2 = work + (<usize>C << 3);
  for (let r = 0; r < M; r++) {
    const xr = at(x, r * C), gr = at(dy, r * C), dxr = at(dx, r * C);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(at(xr, c)), v128.load(at(mean, c))), v128.load(at(invstd, c)));
      const inner = f32x4.sub(f32x4.sub(v128.load(at(gr, c)), v128.load(at(k1, c))), f32x4.mul(xh, v128.load(at(k2, c))));
      let d = f32x4.mul(v128.load(at(a, c)), inner);
      if (accDx) d = f32x4.add(v128.load(at(dxr, c)), d);
      v128.store(at(dxr, c), d);
    }
    for (; c < C; c++) backwardDx1(gr, xr, dxr, c, mean, invstd, k1, a, k2, accDx);
  }
}

/** Scalar twin of {@link batchnorm_backward_f32}. */
export function batchnorm_backward_f32_scalar(dy: usize, x: usize, mean: usize, invstd: usize, gamma: usize, dx: usize,
  dgamma: usize, dbeta: usize, M: i32, C: i32, accDx: i32, accParam: i32, work: usize): void {
  assert(M > 0 && C >= 0, 'batchnorm_backward_f32_scalar: need M > 0, C >= 0');
  backwardSumsScalar(dy, x, M, C, mean, invstd, work);
  backwardCoefficients(M, C, gamma, invstd, dgamma, dbeta, accParam, work);
  const k1 = work, a = work + (<usize>C << 2), k2 = work + (<usize>C << 3);
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < C; c++) backwardDx1(at(dy, r * C), at(x, r * C), at(dx, r * C), c, mean, invstd, k1, a, k2, accDx);
  }
}
