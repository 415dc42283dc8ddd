import { ArgumentError, ShapeError, checkInt, checkNumber, describe } from '../errors.js';
import { fmtShape, type Tensor } from '../tensor.js';
import { checkTensor } from './check.js';

// In-place optimiser steps on one parameter tensor and its gradient. Every settings object
// takes `l1` and `l2` (default 0): the gradient used is g + l2·p + l1·sign(p), i.e. L2 as
// classic weight decay folded into the gradient (not decoupled AdamW) and L1 as a subgradient.

/** Regularisation shared by every optimiser's settings. */
export interface RegularizationSettings {
  /** L1 coefficient λ₁ ≥ 0: adds λ₁·sign(p) to the gradient (default 0). */
  l1?: number;
  /** L2 coefficient λ₂ ≥ 0: adds λ₂·p to the gradient (default 0). */
  l2?: number;
}

/** Settings of {@link sgdUpdate}. */
export interface SgdSettings extends RegularizationSettings {
  /** Learning rate ≥ 0. */
  lr: number;
  /** Momentum μ in [0, 1) (default 0): v = μ·v + g; p −= lr·v. */
  momentum?: number;
  /** Nesterov momentum: p −= lr·(g + μ·v) (default false; needs momentum > 0). */
  nesterov?: boolean;
}

/** State of {@link sgdUpdate}: the velocity buffer (zeros at start), needed when momentum > 0. */
export interface SgdState {
  velocity?: Tensor;
}

/** Settings of {@link adamUpdate}. */
export interface AdamSettings extends RegularizationSettings {
  /** Learning rate ≥ 0. */
  lr: number;
  /** First-moment decay β₁ in [0, 1) (default 0.9). */
  beta1?: number;
  /** Second-moment decay β₂ in [0, 1) (default 0.999). */
  beta2?: number;
  /** Added to √v̂ (default 1e-8), > 0. */
  eps?: number;
  /** Step number t ≥ 1 (1 for the first update) for the bias corrections 1 − βᵗ. */
  step: number;
}

/** State of {@link adamUpdate}: moment buffers (zeros at start). */
export interface AdamState {
  m: Tensor;
  v: Tensor;
}

/** Settings of {@link rmspropUpdate}. */
export interface RmspropSettings extends RegularizationSettings {
  /** Learning rate ≥ 0. */
  lr: number;
  /** Decay ρ of the mean square in [0, 1) (default 0.99). */
  rho?: number;
  /** Added to √s (default 1e-8), > 0. */
  eps?: number;
  /** Momentum μ in [0, 1) (default 0): b = μ·b + g/(√s + eps); p −= lr·b. */
  momentum?: number;
}

/** State of {@link rmspropUpdate}: the mean square (zeros at start) and, with momentum, its buffer. */
export interface RmspropState {
  meanSquare: Tensor;
  momentumBuffer?: Tensor;
}

function checkSettings(s: unknown): Record<string, unknown> {
  if (typeof s !== 'object' || s === null) throw new ArgumentError('settings', 'a settings object', describe(s));
  return s as Record<string, unknown>;
}

function opt(s: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = s[key];
  return v === undefined ? dflt : checkNumber(`settings.${key}`, v, min, max);
}

/** Below 1, as a float32 (0.99999999 would round to 1). */
function belowOne(name: string, v: number): number {
  if (Math.fround(v) >= 1) throw new ArgumentError(name, 'a value below 1 in float32', String(v));
  return v;
}

function positive(name: string, v: number): number {
  if (!(Math.fround(v) > 0)) throw new ArgumentError(name, 'a positive float32', String(v));
  return v;
}

/** A tensor of `p`'s runtime with as many elements. */
function checkLike(name: string, t: unknown, p: Tensor): Tensor {
  const b = checkTensor(name, t, p.rt);
  if (b.size !== p.size) throw new ShapeError(name, `${p.size} elements (param ${fmtShape(p.shape)})`, fmtShape(b.shape));
  return b;
}

function checkPair(p: Tensor, g: Tensor): void {
  checkTensor('param', p);
  checkLike('grad', g, p);
}

function checkBuffer(name: string, t: unknown, p: Tensor): Tensor {
  if (t === undefined || t === null) throw new ArgumentError(name, 'a state tensor', describe(t));
  return checkLike(name, t, p);
}

function regularization(s: Record<string, unknown>): [number, number] {
  return [opt(s, 'l1', 0, 0, Infinity), opt(s, 'l2', 0, 0, Infinity)];
}

/** One SGD step on `param` in place, from `grad` (same number of elements). */
export function sgdUpdate(param: Tensor, grad: Tensor, state: SgdState, settings: SgdSettings): void {
  checkPair(param, grad);
  const s = checkSettings(settings);
  const lr = checkNumber('settings.lr', s.lr, 0);
  const momentum = belowOne('settings.momentum', opt(s, 'momentum', 0, 0, 1));
  const nesterov = s.nesterov ?? false;
  if (typeof nesterov !== 'boolean') throw new ArgumentError('settings.nesterov', 'a boolean', describe(nesterov));
  if (nesterov && momentum === 0) throw new ArgumentError('settings.momentum', 'momentum > 0 with nesterov', '0');
  const [l1, l2] = regularization(s);
  if (typeof state !== 'object' || state === null) throw new ArgumentError('state', 'an SgdState object', describe(state));
  const v = momentum > 0 ? checkBuffer('state.velocity', state.velocity, param).ptr : 0;
  param.rt.k.sgd_f32(param.ptr, grad.ptr, v, param.size, lr, momentum, nesterov ? 1 : 0, l1, l2);
}

/** One Adam step (bias-corrected, step `settings.step`) on `param` in place. */
export function adamUpdate(param: Tensor, grad: Tensor, state: AdamState, settings: AdamSettings): void {
  checkPair(param, grad);
  const s = checkSettings(settings);
  const lr = checkNumber('settings.lr', s.lr, 0);
  const beta1 = belowOne('settings.beta1', opt(s, 'beta1', 0.9, 0, 1));
  const beta2 = belowOne('settings.beta2', opt(s, 'beta2', 0.999, 0, 1));
  const eps = positive('settings.eps', opt(s, 'eps', 1e-8, 0, Infinity));
  const step = checkInt('settings.step', s.step, 1);
  const [l1, l2] = regularization(s);
  if (typeof state !== 'object' || state === null) throw new ArgumentError('state', 'an AdamState {m, v}', describe(state));
  const m = checkBuffer('state.m', state.m, param), v = checkBuffer('state.v', state.v, param);
  param.rt.k.adam_f32(param.ptr, grad.ptr, m.ptr, v.ptr, param.size, lr, beta1, beta2, eps, step, l1, l2);
}

/** One RMSProp step on `param` in place. */
export function rmspropUpdate(param: Tensor, grad: Tensor, state: RmspropState, settings: RmspropSettings): void {
  checkPair(param, grad);
  const s = checkSettings(settings);
  const lr = checkNumber('settings.lr', s.lr, 0);
  const rho = belowOne('settings.rho', opt(s, 'rho', 0.99, 0, 1));
  const eps = positive('settings.eps', opt(s, 'eps', 1e-8, 0, Infinity));
  const momentum = belowOne('settings.momentum', opt(s, 'momentum', 0, 0, 1));
  const [l1, l2] = regularization(s);
  if (typeof state !== 'object' || state === null) throw new ArgumentError('state', 'an RmspropState {meanSquare}', describe(state));
  const sq = checkBuffer('state.meanSquare', state.meanSquare, param);
  const b = momentum > 0 ? checkBuffer('state.momentumBuffer', state.momentumBuffer, param).ptr : 0;
  param.rt.k.rmsprop_f32(param.ptr, grad.ptr, sq.ptr, b, param.size, lr, rho, eps, momentum, l1, l2);
}

/** √(Σ over every tensor of Σ g²): the global L2 norm of a list of gradients (same runtime). */
export function globalNorm(grads: readonly Tensor[]): number {
  if (!Array.isArray(grads)) throw new ArgumentError('grads', 'an array of tensors', describe(grads));
  if (grads.length === 0) return 0;
  const rt = checkTensor('grads[0]', grads[0]).rt;
  grads.forEach((g, i) => checkTensor(`grads[${i}]`, g, rt));
  let ss = 0;
  for (const g of grads) ss += rt.k.sumsq_f32(g.ptr, g.size);
  return rt.k.sqrt_f64(ss);
}

/**
 * Clip gradients by global norm in place: when the norm exceeds `maxNorm` (> 0) every
 * gradient is scaled by maxNorm/(norm + 1e-6). Returns the norm before clipping; a
 * non-finite norm is returned unchanged and nothing is scaled (the caller decides).
 */
export function clipGradNorm(grads: readonly Tensor[], maxNorm: number): number {
  checkNumber('maxNorm', maxNorm, Number.MIN_VALUE);
  const norm = globalNorm(grads);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const f = maxNorm / (norm + 1e-6);
    for (const g of grads) g.rt.k.scale_f32(g.ptr, g.ptr, g.size, f);
  }
  return norm;
}
