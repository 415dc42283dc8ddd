// Transcendental functions on f32x4 (v_*) with scalar twins (s_*) that run the very same
// algorithm on one f32, so every lane of v_f(x) has the bits of s_f(x[lane]). Kernels in
// other families import them: `import { v_exp, v_log } from './vmath'`.
//
// Algorithms: Cody–Waite range reduction + the Cephes single-precision polynomials
// (S. L. Moshier, Cephes Math Library, expf.c / logf.c / tanhf.c / sinf.c). Only IEEE
// add/sub/mul/div/sqrt/min/max/pmin/pmax/nearest and bit operations are used, never FMA or relaxed
// SIMD, so results are the same in every engine. Max errors measured against f64 Math.* on
// dense grids and random bit patterns incl. subnormals (test/vmath.test.ts asserts the
// bound in brackets): exp 0.96 [1] ulp, log 0.80 [1], log1p 2.21 [2.5], sigmoid 2.26 [2.5],
// softplus 2.53 [3], tanh 1.26 [1.5], sin 1.44 [1.5], cos 1.47 [1.5] on [-π, π].
//
// These v128 functions are exported so other kernel files can import them; as module
// exports they cannot be called from JavaScript (asc warns AS112), only the array kernels can.
//
// Array kernels: `<f>_f32(x, y, n)` writes y[i] = f(x[i]) for n elements (x, y byte
// pointers, y == x allowed); the tail (n mod 4) uses the scalar twin, which gives the
// same bits, so the result does not depend on where the SIMD loop stops.

// ---- constants ---------------------------------------------------------------------------

const LOG2E: f32 = 1.44269504088896341;
// ln 2 split in two (Cody–Waite): LN2_HI has 9 significant bits, so n·LN2_HI is exact for |n| < 2^15.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
// exp(x) overflows to +Inf above ln(FLT_MAX) ≈ 88.72 and rounds to 0 below about -103.97
// (half the smallest subnormal); clamping to [-104, 89] keeps n in [-150, 128] and lets
// the final scaling overflow/underflow naturally.
const EXP_LO: f32 = -104.0;
const EXP_HI: f32 = 89.0;
// 1.5·2^23: for |v| < 2^22, v + ROUND_MAGIC lands in [2^23, 2^24), where the f32 spacing is 1.
const ROUND_MAGIC: f32 = 12582912.0;
// Cephes expf polynomial: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2.
const EP0: f32 = 1.9875691500e-4;
const EP1: f32 = 1.3981999507e-3;
const EP2: f32 = 8.3334519073e-3;
const EP3: f32 = 4.1665795894e-2;
const EP4: f32 = 1.6666665459e-1;
const EP5: f32 = 5.0000001201e-1;

const SQRTHF: f32 = 0.707106781186547524;
const FLT_MIN: f32 = 1.17549435e-38; // smallest normal
const TWO23: f32 = 8388608.0;
// Cephes logf polynomial: log(1+f) ≈ f - f²/2 + f³·L(f) on √½-1 ≤ f < √2-1.
const LP0: f32 = 7.0376836292e-2;
const LP1: f32 = -1.1514610310e-1;
const LP2: f32 = 1.1676998740e-1;
const LP3: f32 = -1.2420140846e-1;
const LP4: f32 = 1.4249322787e-1;
const LP5: f32 = -1.6668057665e-1;
const LP6: f32 = 2.0000714765e-1;
const LP7: f32 = -2.4999993993e-1;
const LP8: f32 = 3.3333331174e-1;

// Cephes tanhf: tanh(x) ≈ x + x³·T(x²) for |x| < 0.625, else 1 - 2/(e^{2|x|} + 1).
const TANH_SMALL: f32 = 0.625;
const TP0: f32 = -5.70498872745e-3;
const TP1: f32 = 2.06390887954e-2;
const TP2: f32 = -5.37397155531e-2;
const TP3: f32 = 1.33314422036e-1;
const TP4: f32 = -3.33332819422e-1;

// Cephes sinf/cosf polynomials on |r| ≤ π/4.
const SP0: f32 = -1.9515295891e-4;
const SP1: f32 = 8.3321608736e-3;
const SP2: f32 = -1.6666654611e-1;
const CP0: f32 = 2.443315711809948e-5;
const CP1: f32 = -1.388731625493765e-3;
const CP2: f32 = 4.166664568298827e-2;
const TWO_OVER_PI: f32 = 0.636619772367581343;
// π/2 split in three (Cephes DP1..DP3 doubled): PIO2_1 has 8 significant bits and PIO2_2
// 12, so j·PIO2_1 and j·PIO2_2 are exact for |j| < 2^12, i.e. |x| up to about 6400.
const PIO2_1: f32 = 1.5703125;
const PIO2_2: f32 = 4.837512969970703125e-4;
const PIO2_3: f32 = 7.54978995489188216e-8;
// Below this |x|, sin(x) rounds to x (x³/6 < half an ulp); also keeps sin(-0) = -0.
const SIN_TINY: f32 = 2.44140625e-4; // 2^-12

const SIGN: i32 = 0x80000000;

// ---- exp ---------------------------------------------------------------------------------

/** e^x on four lanes. Overflow gives +Inf, underflow 0 (through subnormals), NaN stays NaN. */
// @ts-ignore: decorator
@inline export function v_exp(x: v128): v128 {
  // pmax/pmin clamp in one instruction each (a NaN x stays NaN: it fails both compares).
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  // n = nearest(x·log2 e) by the 1.5·2^23 trick: adding the magic rounds to an integer (ties to
  // even, as nearest does) and its low mantissa bits are then n, so no float→int conversion.
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(ROUND_MAGIC));
  const n = f32x4.sub(t, f32x4.splat(ROUND_MAGIC));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  const z = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(f32x4.splat(EP0), r), f32x4.splat(EP1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(EP5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, z), r), f32x4.splat(1.0));
  // 2^n = 2^n1 · 2^n2 with both halves normal: p·2^n1 is exact, the second product
  // rounds once (into a subnormal or to Inf when the true result does).
  const ni = i32x4.sub(t, f32x4.splat(ROUND_MAGIC));
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/** Scalar twin of {@link v_exp}. */
// @ts-ignore: decorator
@inline export function s_exp(x: f32): f32 {
  x = min(max(x, EXP_LO), EXP_HI);
  const n = nearest(x * LOG2E);
  let r = x - n * LN2_HI;
  r = r - n * LN2_LO;
  const z = r * r;
  let p = EP0 * r + EP1;
  p = p * r + EP2;
  p = p * r + EP3;
  p = p * r + EP4;
  p = p * r + EP5;
  p = (p * z + r) + <f32>1.0;
  const ni = <i32>n; // nontrapping (saturating) conversion, like i32x4.trunc_sat
  const n1 = ni >> 1;
  const n2 = ni - n1;
  return (p * reinterpret<f32>((n1 + 127) << 23)) * reinterpret<f32>((n2 + 127) << 23);
}

// ---- log ---------------------------------------------------------------------------------

/** Natural log on four lanes: log(±0) = -Inf, log(x<0) = NaN, log(+Inf) = +Inf; subnormals handled. */
// @ts-ignore: decorator
@inline export function v_log(x: v128): v128 {
  // Subnormals (and zero/negatives, fixed up below) are scaled by 2^23 to become normal.
  const sub = f32x4.lt(x, f32x4.splat(FLT_MIN));
  const xs = v128.bitselect(f32x4.mul(x, f32x4.splat(TWO23)), x, sub);
  let r = v_log_core(xs, v128.and(sub, i32x4.splat(23)));
  // Special inputs: +Inf and NaN pass through, negatives give NaN, ±0 gives -Inf.
  r = v128.bitselect(r, x, f32x4.lt(x, f32x4.splat(Infinity)));
  r = v128.bitselect(f32x4.splat(NaN), r, f32x4.lt(x, f32x4.splat(0)));
  r = v128.bitselect(f32x4.splat(-Infinity), r, f32x4.eq(x, f32x4.splat(0)));
  return r;
}

/**
 * {@link v_log} of positive normal finite lanes only (no subnormal scaling, no special cases):
 * the same bits as v_log there, fewer instructions; anything else gives garbage.
 */
// @ts-ignore: decorator
@inline export function v_log_normal(x: v128): v128 {
  return v_log_core(x, i32x4.splat(0));
}

/** The body of {@link v_log}: ln of normal xs·2^-adj (adj per lane, as i32). */
// @ts-ignore: decorator
@inline function v_log_core(xs: v128, adj: v128): v128 {
  let e = i32x4.sub(i32x4.shr_u(v128.and(xs, i32x4.splat(0x7f800000)), 23), i32x4.splat(126));
  e = i32x4.sub(e, adj);
  // m in [0.5, 1); below √½ use 2m and e-1 so that f = m-1 lies in [√½-1, √2-1) (exact).
  const m = v128.or(v128.and(xs, i32x4.splat(0x007fffff)), i32x4.splat(0x3f000000));
  const lo = f32x4.lt(m, f32x4.splat(SQRTHF));
  const f = f32x4.sub(v128.bitselect(f32x4.add(m, m), m, lo), f32x4.splat(1.0));
  e = i32x4.add(e, lo); // lo lanes are -1
  const fe = f32x4.convert_i32x4_s(e);
  const z = f32x4.mul(f, f);
  let y = f32x4.add(f32x4.mul(f32x4.splat(LP0), f), f32x4.splat(LP1));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(LP2));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(LP3));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(LP4));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(LP5));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(LP6));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(LP7));
  y = f32x4.add(f32x4.mul(y, f), f32x4.splat(LP8));
  y = f32x4.mul(f32x4.mul(y, f), z);
  y = f32x4.add(y, f32x4.mul(fe, f32x4.splat(LN2_LO)));
  y = f32x4.sub(y, f32x4.mul(z, f32x4.splat(0.5)));
  return f32x4.add(f32x4.add(f, y), f32x4.mul(fe, f32x4.splat(LN2_HI)));
}

/** Scalar twin of {@link v_log}. */
// @ts-ignore: decorator
@inline export function s_log(x: f32): f32 {
  const sub = x < FLT_MIN;
  const xs = select<f32>(x * TWO23, x, sub);
  const bits = reinterpret<i32>(xs);
  let e = ((bits & 0x7f800000) >>> 23) - 126;
  e -= select<i32>(23, 0, sub);
  const m = reinterpret<f32>((bits & 0x007fffff) | 0x3f000000);
  const lo = m < SQRTHF;
  const f = select<f32>(m + m, m, lo) - <f32>1.0;
  e -= <i32>lo;
  const fe = <f32>e;
  const z = f * f;
  let y = LP0 * f + LP1;
  y = y * f + LP2;
  y = y * f + LP3;
  y = y * f + LP4;
  y = y * f + LP5;
  y = y * f + LP6;
  y = y * f + LP7;
  y = y * f + LP8;
  y = (y * f) * z;
  y = y + fe * LN2_LO;
  y = y - z * <f32>0.5;
  let r = (f + y) + fe * LN2_HI;
  r = select<f32>(r, x, x < Infinity);
  r = select<f32>(NaN, r, x < 0);
  r = select<f32>(-Infinity, r, x == 0);
  return r;
}

// ---- log1p -------------------------------------------------------------------------------

/**
 * log(1 + x) on four lanes, accurate for tiny x: with u = 1 + x (rounded),
 * log1p(x) = log(u) · x / (u - 1), which cancels the rounding of u (Goldberg 1991, Thm 4);
 * u == 1 gives x itself (keeps ±0 and subnormals), u == +Inf gives +Inf.
 */
// @ts-ignore: decorator
@inline export function v_log1p(x: v128): v128 {
  const one = f32x4.splat(1.0);
  const u = f32x4.add(one, x);
  const d = f32x4.sub(u, one);
  let r = f32x4.mul(v_log(u), f32x4.div(x, d));
  r = v128.bitselect(x, r, f32x4.eq(d, f32x4.splat(0)));
  r = v128.bitselect(u, r, f32x4.eq(u, f32x4.splat(Infinity)));
  return r;
}

/** Scalar twin of {@link v_log1p}. */
// @ts-ignore: decorator
@inline export function s_log1p(x: f32): f32 {
  const u = <f32>1.0 + x;
  const d = u - <f32>1.0;
  let r = s_log(u) * (x / d);
  r = select<f32>(x, r, d == 0);
  r = select<f32>(u, r, u == Infinity);
  return r;
}

// ---- sigmoid, softplus -------------------------------------------------------------------

/** Logistic 1/(1+e^-x) on four lanes, evaluated as {1 or e}/(1+e) with e = e^{-|x|} (no overflow, full relative accuracy in both tails). */
// @ts-ignore: decorator
@inline export function v_sigmoid(x: v128): v128 {
  const e = v_exp(f32x4.neg(f32x4.abs(x)));
  const num = v128.bitselect(f32x4.splat(1.0), e, f32x4.ge(x, f32x4.splat(0)));
  return f32x4.div(num, f32x4.add(f32x4.splat(1.0), e));
}

/** Scalar twin of {@link v_sigmoid}. */
// @ts-ignore: decorator
@inline export function s_sigmoid(x: f32): f32 {
  const e = s_exp(-abs(x));
  return select<f32>(1.0, e, x >= 0) / (<f32>1.0 + e);
}

/** softplus log(1+e^x) on four lanes, as max(x,0) + log1p(e^{-|x|}) (no overflow). */
// @ts-ignore: decorator
@inline export function v_softplus(x: v128): v128 {
  const t = v_log1p(v_exp(f32x4.neg(f32x4.abs(x))));
  return f32x4.add(f32x4.max(x, f32x4.splat(0)), t);
}

/** Scalar twin of {@link v_softplus}. */
// @ts-ignore: decorator
@inline export function s_softplus(x: f32): f32 {
  const t = s_log1p(s_exp(-abs(x)));
  return max(x, <f32>0) + t;
}

// ---- tanh --------------------------------------------------------------------------------

/** Hyperbolic tangent on four lanes (odd; ±0 kept; saturates to ±1). */
// @ts-ignore: decorator
@inline export function v_tanh(x: v128): v128 {
  // Evaluated on |x|, then x's sign bit is copied in: tanh is odd and the odd polynomial is
  // sign-symmetric in floating point, so this only changes tanh(-0) from +0 to -0.
  const ax = f32x4.abs(x);
  // |x| < 0.625: odd polynomial.
  const z = f32x4.mul(ax, ax);
  let p = f32x4.add(f32x4.mul(f32x4.splat(TP0), z), f32x4.splat(TP1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(TP2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(TP3));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(TP4));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), ax), ax);
  // Otherwise 1 - 2/(e^{2|x|}+1), which lies in [0.55, 1].
  const e = v_exp(f32x4.add(ax, ax));
  const big = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  const t = v128.bitselect(small, big, f32x4.lt(ax, f32x4.splat(TANH_SMALL)));
  return v128.or(t, v128.and(x, i32x4.splat(SIGN)));
}

/** Scalar twin of {@link v_tanh}. */
// @ts-ignore: decorator
@inline export function s_tanh(x: f32): f32 {
  const ax = abs(x);
  const z = ax * ax;
  let p = TP0 * z + TP1;
  p = p * z + TP2;
  p = p * z + TP3;
  p = p * z + TP4;
  const small = (p * z) * ax + ax;
  const e = s_exp(ax + ax);
  const big = <f32>1.0 - <f32>2.0 / (e + <f32>1.0);
  const t = select<f32>(small, big, ax < TANH_SMALL);
  return reinterpret<f32>(reinterpret<i32>(t) | (reinterpret<i32>(x) & SIGN));
}

// ---- sin, cos ----------------------------------------------------------------------------

/** sin(r) for |r| ≤ π/4 (Cephes sinf polynomial), four lanes. */
// @ts-ignore: decorator
@inline export function v_sin_kernel(r: v128): v128 {
  const z = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(f32x4.splat(SP0), z), f32x4.splat(SP1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(SP2));
  return f32x4.add(f32x4.mul(f32x4.mul(p, z), r), r);
}

/** Scalar twin of {@link v_sin_kernel}. */
// @ts-ignore: decorator
@inline export function s_sin_kernel(r: f32): f32 {
  const z = r * r;
  let p = SP0 * z + SP1;
  p = p * z + SP2;
  return (p * z) * r + r;
}

/** cos(r) for |r| ≤ π/4 (Cephes cosf polynomial), four lanes. */
// @ts-ignore: decorator
@inline export function v_cos_kernel(r: v128): v128 {
  const z = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(f32x4.splat(CP0), z), f32x4.splat(CP1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(CP2));
  p = f32x4.mul(f32x4.mul(p, z), z);
  return f32x4.add(f32x4.sub(p, f32x4.mul(z, f32x4.splat(0.5))), f32x4.splat(1.0));
}

/** Scalar twin of {@link v_cos_kernel}. */
// @ts-ignore: decorator
@inline export function s_cos_kernel(r: f32): f32 {
  const z = r * r;
  let p = CP0 * z + CP1;
  p = p * z + CP2;
  p = (p * z) * z;
  return (p - z * <f32>0.5) + <f32>1.0;
}

/**
 * sin (wantCos = false) or cos (true) of x on four lanes: reduce to r = x - j·π/2 with
 * |r| ≤ π/4 (three-part Cody–Waite), then pick ±sin_kernel(r) or ±cos_kernel(r) by j mod 4.
 */
// @ts-ignore: decorator
@inline function v_sincos_pick(x: v128, wantCos: bool): v128 {
  const j = f32x4.nearest(f32x4.mul(x, f32x4.splat(TWO_OVER_PI)));
  const q = i32x4.trunc_sat_f32x4_s(j);
  let r = f32x4.sub(x, f32x4.mul(j, f32x4.splat(PIO2_1)));
  r = f32x4.sub(r, f32x4.mul(j, f32x4.splat(PIO2_2)));
  r = f32x4.sub(r, f32x4.mul(j, f32x4.splat(PIO2_3)));
  const s = v_sin_kernel(r), c = v_cos_kernel(r);
  const even = i32x4.eq(v128.and(q, i32x4.splat(1)), i32x4.splat(0));
  if (wantCos) {
    // cos(jπ/2 + r) for j mod 4 = 0, 1, 2, 3: c, -s, -c, s.
    const y = v128.bitselect(c, s, even);
    return v128.xor(y, i32x4.shl(v128.and(i32x4.add(q, i32x4.splat(1)), i32x4.splat(2)), 30));
  }
  // sin(jπ/2 + r) for j mod 4 = 0, 1, 2, 3: s, c, -s, -c; tiny |x| returns x itself.
  let y = v128.bitselect(s, c, even);
  y = v128.xor(y, i32x4.shl(v128.and(q, i32x4.splat(2)), 30));
  return v128.bitselect(x, y, f32x4.lt(f32x4.abs(x), f32x4.splat(SIN_TINY)));
}

// @ts-ignore: decorator
@inline function s_sincos_pick(x: f32, wantCos: bool): f32 {
  const j = nearest(x * TWO_OVER_PI);
  const q = <i32>j;
  let r = x - j * PIO2_1;
  r = r - j * PIO2_2;
  r = r - j * PIO2_3;
  const s = s_sin_kernel(r), c = s_cos_kernel(r);
  const even = (q & 1) == 0;
  if (wantCos) {
    const y = select<f32>(c, s, even);
    return reinterpret<f32>(reinterpret<i32>(y) ^ (((q + 1) & 2) << 30));
  }
  let y = select<f32>(s, c, even);
  y = reinterpret<f32>(reinterpret<i32>(y) ^ ((q & 2) << 30));
  return select<f32>(x, y, abs(x) < SIN_TINY);
}

/** sin(x) on four lanes, meant for |x| ≤ π (accurate up to |x| ≈ 6400); ±Inf/NaN give NaN. */
// @ts-ignore: decorator
@inline export function v_sin(x: v128): v128 { return v_sincos_pick(x, false); }
/** Scalar twin of {@link v_sin}. */
// @ts-ignore: decorator
@inline export function s_sin(x: f32): f32 { return s_sincos_pick(x, false); }
/** cos(x) on four lanes, meant for |x| ≤ π (accurate up to |x| ≈ 6400); ±Inf/NaN give NaN. */
// @ts-ignore: decorator
@inline export function v_cos(x: v128): v128 { return v_sincos_pick(x, true); }
/** Scalar twin of {@link v_cos}. */
// @ts-ignore: decorator
@inline export function s_cos(x: f32): f32 { return s_sincos_pick(x, true); }

// ---- sqrt --------------------------------------------------------------------------------

/** Square root on four lanes (IEEE correctly rounded, so identical to the scalar f32.sqrt). */
// @ts-ignore: decorator
@inline export function v_sqrt(x: v128): v128 {
  return f32x4.sqrt(x);
}

// ---- array kernels -----------------------------------------------------------------------
// One body per function, specialised by inlining a constant `fn` id: the branches fold away.

const F_EXP = 0, F_LOG = 1, F_LOG1P = 2, F_SIGMOID = 3, F_SOFTPLUS = 4, F_TANH = 5, F_SIN = 6, F_COS = 7;

// @ts-ignore: decorator
@inline function vf(fn: i32, x: v128): v128 {
  if (fn == F_EXP) return v_exp(x);
  if (fn == F_LOG) return v_log(x);
  if (fn == F_LOG1P) return v_log1p(x);
  if (fn == F_SIGMOID) return v_sigmoid(x);
  if (fn == F_SOFTPLUS) return v_softplus(x);
  if (fn == F_TANH) return v_tanh(x);
  if (fn == F_SIN) return v_sin(x);
  return v_cos(x);
}

// @ts-ignore: decorator
@inline function sf(fn: i32, x: f32): f32 {
  if (fn == F_EXP) return s_exp(x);
  if (fn == F_LOG) return s_log(x);
  if (fn == F_LOG1P) return s_log1p(x);
  if (fn == F_SIGMOID) return s_sigmoid(x);
  if (fn == F_SOFTPLUS) return s_softplus(x);
  if (fn == F_TANH) return s_tanh(x);
  if (fn == F_SIN) return s_sin(x);
  return s_cos(x);
}

// @ts-ignore: decorator
@inline function mapSimd(fn: i32, x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'n must be >= 0');
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, vf(fn, v128.load(x + o)));
  }
  // Tail: the scalar twin gives the same bits as a lane would.
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, sf(fn, load<f32>(x + o)));
  }
}

// @ts-ignore: decorator
@inline function mapScalar(fn: i32, x: usize, y: usize, n: i32): void {
  assert(n >= 0, 'n must be >= 0');
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, sf(fn, load<f32>(x + o)));
  }
}

/** y[i] = e^x[i], i < n (x, y byte pointers; y may equal x). */
export function exp_f32(x: usize, y: usize, n: i32): void { mapSimd(F_EXP, x, y, n); }
/** Scalar twin of {@link exp_f32}. */
export function exp_f32_scalar(x: usize, y: usize, n: i32): void { mapScalar(F_EXP, x, y, n); }
/** y[i] = ln x[i]. */
export function log_f32(x: usize, y: usize, n: i32): void { mapSimd(F_LOG, x, y, n); }
/** Scalar twin of {@link log_f32}. */
export function log_f32_scalar(x: usize, y: usize, n: i32): void { mapScalar(F_LOG, x, y, n); }
/** y[i] = ln(1 + x[i]). */
export function log1p_f32(x: usize, y: usize, n: i32): void { mapSimd(F_LOG1P, x, y, n); }
/** Scalar twin of {@link log1p_f32}. */
export function log1p_f32_scalar(x: usize, y: usize, n: i32): void { mapScalar(F_LOG1P, x, y, n); }
// sigmoid_f32 and tanh_f32 live in activation.ts (built on v_sigmoid / v_tanh).
/** y[i] = ln(1 + e^x[i]). */
export function softplus_f32(x: usize, y: usize, n: i32): void { mapSimd(F_SOFTPLUS, x, y, n); }
/** Scalar twin of {@link softplus_f32}. */
export function softplus_f32_scalar(x: usize, y: usize, n: i32): void { mapScalar(F_SOFTPLUS, x, y, n); }
/** y[i] = sin x[i] (accurate for |x| ≲ 6400). */
export function sin_f32(x: usize, y: usize, n: i32): void { mapSimd(F_SIN, x, y, n); }
/** Scalar twin of {@link sin_f32}. */
export function sin_f32_scalar(x: usize, y: usize, n: i32): void { mapScalar(F_SIN, x, y, n); }
/** y[i] = cos x[i] (accurate for |x| ≲ 6400). */
export function cos_f32(x: usize, y: usize, n: i32): void { mapSimd(F_COS, x, y, n); }
/** Scalar twin of {@link cos_f32}. */
export function cos_f32_scalar(x: usize, y: usize, n: i32): void { mapScalar(F_COS, x, y, n); }
