// Scalar f64 math for JavaScript callers (schedules, initialisers): JS engines may round
// Math.pow/cos/exp/log differently; AssemblyScript's Math is the same code in every engine.

export function math_pow_f64(x: f64, y: f64): f64 {
  return Math.pow(x, y);
}

export function math_cos_f64(x: f64): f64 {
  return Math.cos(x);
}

export function math_exp_f64(x: f64): f64 {
  return Math.exp(x);
}

export function math_log_f64(x: f64): f64 {
  return Math.log(x);
}
