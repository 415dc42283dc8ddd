import { ArgumentError, ShapeError, checkInt, checkNumber, describe } from '../errors.js';
import { fmtShape, type Tensor } from '../tensor.js';
import { checkTensor } from './check.js';
import { powF64 } from './math.js';

// Stochastic-gradient MCMC updates on one parameter tensor, in place, and the Gaussian
// reductions of ensembles and distillation (assembly/sampler.ts).
//
// Scaling: `grad` is the gradient of the per-sample MEAN loss of a mini-batch,
// (1/M)·Σ_{i∈batch} −log p(y_i|x_i, θ) (what `fit` and the layers compute). The potential of the
// posterior over N training samples is U(θ) = −log p(θ) − Σ_{i≤N} log p(y_i|x_i, θ), whose
// stochastic gradient is ∇U ≈ N·(grad + l2·θ + l1·sign θ) + λ·θ (λ: Gaussian prior precision).
// That is Welling & Teh's (N/M)·Σ_batch ∇log p(y|x,θ) + ∇log p(θ), sign flipped.

/** Settings shared by the SG-MCMC updates. */
export interface McmcSettings {
  /** Step size η ≥ 0 (SGLD: noise variance η; SGHMC: η = ε² of Chen et al.). */
  stepSize: number;
  /** N, the number of training samples the mean-loss gradient stands for (≥ 1). */
  datasetSize: number;
  /** Precision λ ≥ 0 of the zero-mean Gaussian prior N(0, 1/λ) on this tensor (default 1). */
  priorPrecision?: number;
  /** Temperature T ≥ 0 (default 1): noise variance ×T, the chain targets p(θ|D)^(1/T). 0: no noise. */
  temperature?: number;
  /** L1/L2 coefficients of the per-sample loss (the parameter group's; default 0). */
  l1?: number;
  l2?: number;
  /** Seed of the noise (32-bit unsigned), the chain's. */
  seed: number;
  /** Step counter of the chain (integer in [0, 2^32)): a fresh noise draw each value. */
  step: number;
  /** Stream (integer in [0, 2^32)) of this tensor, distinct per parameter group. */
  stream: number;
  /** Draw the Langevin noise (default true); false gives the plain (momentum) gradient step. */
  noise?: boolean;
}

/** Settings of {@link psgldUpdate}. */
export interface PsgldSettings extends McmcSettings {
  /** Decay ρ in [0, 1) of the mean square (default 0.99). */
  rho?: number;
  /**
   * eps > 0 of G = 1/(eps + √v̂) (default 1e-3). A weight whose gradient stays 0 (a dead unit)
   * gets G = 1/eps and noise variance η·T/eps, so eps bounds how far such weights wander.
   */
  eps?: number;
  /** Correct v's start from zero, v̂ = v/(1 − ρᵗ) with t = step + 1 (default true). */
  biasCorrection?: boolean;
}

/** Settings of {@link sghmcUpdate}. */
export interface SghmcSettings extends McmcSettings {
  /** Friction α in (0, 1] (default 0.1): momentum decays by 1 − α a step; α = 1 is SGLD with step 2η. */
  friction?: number;
}

interface Common {
  scale: number;
  prec: number;
  l1: number;
  l2: number;
  temp: number;
  noise: boolean;
  seedLo: number;
  seedHi: number;
  stream: number;
  eta: number;
}

function settingsObject(s: unknown): Record<string, unknown> {
  if (typeof s !== 'object' || s === null) throw new ArgumentError('settings', 'a settings object', describe(s));
  return s as Record<string, unknown>;
}

function common(param: Tensor, grad: Tensor, settings: unknown): Common & { s: Record<string, unknown> } {
  checkTensor('param', param);
  const g = checkTensor('grad', grad, param.rt);
  if (g.size !== param.size) throw new ShapeError('grad', `${param.size} elements (param ${fmtShape(param.shape)})`, fmtShape(g.shape));
  const s = settingsObject(settings);
  const eta = checkNumber('settings.stepSize', s.stepSize, 0);
  const scale = checkNumber('settings.datasetSize', s.datasetSize, 1);
  const prec = checkNumber('settings.priorPrecision', s.priorPrecision ?? 1, 0);
  const temp = checkNumber('settings.temperature', s.temperature ?? 1, 0);
  const l1 = checkNumber('settings.l1', s.l1 ?? 0, 0);
  const l2 = checkNumber('settings.l2', s.l2 ?? 0, 0);
  const seed = checkInt('settings.seed', s.seed, 0, 2 ** 32 - 1);
  const step = checkInt('settings.step', s.step, 0, 2 ** 32 - 1);
  const stream = checkInt('settings.stream', s.stream, 0, 2 ** 32 - 1);
  const noise = s.noise ?? true;
  if (typeof noise !== 'boolean') throw new ArgumentError('settings.noise', 'a boolean', describe(noise));
  // The step counter is the high seed word: (seed, step) keys one draw, `stream` the tensor.
  return { s, eta, scale, prec, l1, l2, temp, noise, seedLo: seed, seedHi: step, stream };
}

function stateBuffer(name: string, t: unknown, p: Tensor): Tensor {
  if (t === undefined || t === null) throw new ArgumentError(name, 'a state tensor', describe(t));
  const b = checkTensor(name, t, p.rt);
  if (b.size !== p.size) throw new ShapeError(name, `${p.size} elements (param ${fmtShape(p.shape)})`, fmtShape(b.shape));
  return b;
}

function scratch(p: Tensor): number {
  return p.rt.workspace(p.rt.k.sampler_scratch_floats() * 4);
}

/** √x in float64 (correctly rounded in every engine), then rounded to float32 by the call. */
const sqrt = (x: number): number => Math.sqrt(x);

/**
 * One SGLD step (Welling & Teh 2011) on `param` in place:
 * θ ← θ − (η/2)·∇U + √(η·T)·ξ, ξ ~ N(0, I) from (seed, step, stream), ∇U as in the module note.
 */
export function sgldUpdate(param: Tensor, grad: Tensor, settings: McmcSettings): void {
  const c = common(param, grad, settings);
  const sd = c.noise ? sqrt(c.eta * c.temp) : 0;
  param.rt.k.sgld_f32(param.ptr, grad.ptr, param.size, c.eta / 2, c.scale, c.prec, c.l1, c.l2, sd, scratch(param), c.seedLo, c.seedHi, c.stream);
}

/**
 * One preconditioned SGLD step (Li et al. 2016, RMSProp preconditioner, without the Γ term):
 * v ← ρv + (1−ρ)ḡ², G = 1/(eps + √v̂) with v̂ = v/(1 − ρᵗ) (bias-corrected as Adam, t = step + 1),
 * θ ← θ − (η/2)·G·∇U + √(η·T·G)·ξ. `state.meanSquare`: n floats, zeros at start.
 */
export function psgldUpdate(param: Tensor, grad: Tensor, state: { meanSquare: Tensor }, settings: PsgldSettings): void {
  const c = common(param, grad, settings);
  const rho = checkNumber('settings.rho', c.s.rho ?? 0.99, 0, 1);
  if (Math.fround(rho) >= 1) throw new ArgumentError('settings.rho', 'a value below 1 in float32', String(rho));
  const eps = checkNumber('settings.eps', c.s.eps ?? 1e-3, Number.MIN_VALUE);
  const corr = c.s.biasCorrection ?? true;
  if (typeof corr !== 'boolean') throw new ArgumentError('settings.biasCorrection', 'a boolean', describe(corr));
  // 1/(1 − ρᵗ) with t = step + 1, ρᵗ from wasm (engines may round Math.pow differently).
  const vc = corr ? 1 / (1 - powF64(rho, c.seedHi + 1)) : 1;
  if (!(Math.fround(eps) > 0)) throw new ArgumentError('settings.eps', 'a positive float32', String(eps));
  if (typeof state !== 'object' || state === null) throw new ArgumentError('state', 'a state {meanSquare}', describe(state));
  const v = stateBuffer('state.meanSquare', state.meanSquare, param);
  const sd = c.noise ? sqrt(c.eta * c.temp) : 0;
  param.rt.k.psgld_f32(param.ptr, grad.ptr, v.ptr, param.size, c.eta / 2, c.scale, c.prec, c.l1, c.l2, rho, eps, vc, sd, scratch(param), c.seedLo, c.seedHi, c.stream);
}

/**
 * One SGHMC step (Chen et al. 2014, eq. 15, noise estimate B̂ = 0) on `param` in place:
 * m ← (1 − α)·m − η·∇U + √(2αη·T)·ξ, θ ← θ + m. `state.momentum`: n floats, zeros at start.
 */
export function sghmcUpdate(param: Tensor, grad: Tensor, state: { momentum: Tensor }, settings: SghmcSettings): void {
  const c = common(param, grad, settings);
  const alpha = checkNumber('settings.friction', c.s.friction ?? 0.1, Number.MIN_VALUE, 1);
  if (typeof state !== 'object' || state === null) throw new ArgumentError('state', 'a state {momentum}', describe(state));
  const m = stateBuffer('state.momentum', state.momentum, param);
  const sd = c.noise ? sqrt(2 * alpha * c.eta * c.temp) : 0;
  param.rt.k.sghmc_f32(param.ptr, grad.ptr, m.ptr, param.size, c.eta, c.scale, c.prec, c.l1, c.l2, 1 - alpha, sd, scratch(param), c.seedLo, c.seedHi, c.stream);
}

/** Options of {@link gaussianKl}. */
export interface GaussianKlOptions {
  /** Receives scale·∂(Σ KL)/∂out, same shape as `out`. */
  grad?: Tensor;
  /** Gradient scale, e.g. 1/batch (default 1). */
  scale?: number;
}

/**
 * Σ KL(N(μ_t, v_t) ‖ N(μ, e^s)) (nats) of a student whose `out` [rows, 2·cols] holds means then
 * log-variances (clamped at −12) against teacher means `tMean` and variances `tVar` (> 0),
 * both [rows, cols]; optional gradient into `opts.grad`.
 */
export function gaussianKl(out: Tensor, tMean: Tensor, tVar: Tensor, opts: GaussianKlOptions = {}): number {
  checkTensor('out', out);
  checkTensor('tMean', tMean, out.rt);
  checkTensor('tVar', tVar, out.rt);
  const rows = out.shape[0];
  const cols = tMean.size / Math.max(rows, 1);
  if (out.shape.length !== 2 || !Number.isInteger(cols) || out.shape[1] !== 2 * cols) {
    throw new ShapeError('out', `[rows, 2·cols] for tMean ${fmtShape(tMean.shape)}`, fmtShape(out.shape));
  }
  if (tVar.size !== tMean.size) throw new ShapeError('tVar', `${tMean.size} elements`, fmtShape(tVar.shape));
  if (opts.grad) {
    checkTensor('opts.grad', opts.grad, out.rt);
    if (opts.grad.size !== out.size) throw new ShapeError('opts.grad', fmtShape(out.shape), fmtShape(opts.grad.shape));
  }
  const v = tVar.view();
  for (let i = 0; i < v.length; i++) if (!(v[i] > 0)) throw new ArgumentError(`tVar[${i}]`, 'a variance > 0', String(v[i]));
  const scale = checkNumber('opts.scale', opts.scale ?? 1);
  return out.rt.k.gauss_kl_f32(out.ptr, tMean.ptr, tVar.ptr, rows, cols, opts.grad?.ptr ?? 0, scale);
}

/**
 * log((1/K)·Σ_k N(y_i; μ_ki, v_ki)) per target into `out` [n]: `mu`, `v` (> 0) are [K, n], `y` [n].
 * Returns `out`.
 */
export function gaussianMixtureLogLik(mu: Tensor, v: Tensor, y: Tensor, out: Tensor): Tensor {
  checkTensor('mu', mu);
  checkTensor('v', v, mu.rt);
  checkTensor('y', y, mu.rt);
  checkTensor('out', out, mu.rt);
  const n = y.size;
  if (n === 0 || mu.size % n !== 0 || mu.size === 0) throw new ShapeError('mu', `[K, ${n}]`, fmtShape(mu.shape));
  if (v.size !== mu.size) throw new ShapeError('v', fmtShape(mu.shape), fmtShape(v.shape));
  if (out.size !== n) throw new ShapeError('out', `[${n}]`, fmtShape(out.shape));
  const vv = v.view();
  for (let i = 0; i < vv.length; i++) if (!(vv[i] > 0)) throw new ArgumentError(`v[${i}]`, 'a variance > 0', String(vv[i]));
  mu.rt.k.gauss_mixture_ll_f32(mu.ptr, v.ptr, y.ptr, n, mu.size / n, out.ptr);
  return out;
}
