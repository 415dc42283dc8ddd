// Recurrent kernels: fused LSTM and GRU forward and backward through time, embedding lookup and
// its row-sparse gradient, and the elementwise pieces of the Bayesian and dropout variants.
//
// Layout (time-major, so every step's rows are contiguous and the products over all steps are
// one GEMM each): gates g[T, B, G·H] (G = 4 for LSTM in the order i, f, g, o; G = 3 for GRU in
// the order r, z, n), states h[T + 1, B, H] and c[T + 1, B, H] with slot 0 the initial state,
// step mask[T, B] (1 live, 0 padded; pointer 0 = every step live). A padded step carries the
// state through unchanged and gets no gradient of its own. Pointers are byte offsets, sizes and
// strides are elements. Every SIMD kernel has a `_scalar` twin doing the same operations in the
// same order per element (the recurrent products use the GEMM kernels and their twins), so the
// two agree bit for bit.

import { gemm_f32_nn, gemm_f32_nn_scalar, gemm_f32_nt, gemm_f32_nt_scalar } from './gemm';
import { gemmPackWholeB, gemmPackedB } from './gemm_engine';
import { s_sigmoid, s_tanh, v_sigmoid, v_tanh } from './vmath';

@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

@inline function live(mask: usize, i: i32): bool {
  return mask == 0 || load<f32>(at(mask, i)) != 0;
}

// ---- LSTM cell -------------------------------------------------------------------------------

/**
 * One LSTM step for B rows: g[B, 4H] (pre-activations in, activations i, f, g, o out),
 * c0/h0 the previous state [B, H], c1/h1 the new one. Lanes j..j+3 of a row in SIMD.
 */
@inline function lstmCell(simd: bool, B: i32, H: i32, g: usize, c0: usize, h0: usize, c1: usize, h1: usize, mask: usize): void {
  const H4 = H & ~3;
  for (let b = 0; b < B; b++) {
    const row = b * H;
    if (!live(mask, b)) {
      memory.copy(at(c1, row), at(c0, row), <usize>H << 2);
      memory.copy(at(h1, row), at(h0, row), <usize>H << 2);
      continue;
    }
    const gi = at(g, b * 4 * H), gf = at(gi, H), gg = at(gi, 2 * H), go = at(gi, 3 * H);
    let j = 0;
    if (simd) {
      for (; j < H4; j += 4) {
        const i = v_sigmoid(v128.load(at(gi, j)));
        const f = v_sigmoid(v128.load(at(gf, j)));
        const u = v_tanh(v128.load(at(gg, j)));
        const o = v_sigmoid(v128.load(at(go, j)));
        const c = f32x4.add(f32x4.mul(f, v128.load(at(c0, row + j))), f32x4.mul(i, u));
        v128.store(at(gi, j), i); v128.store(at(gf, j), f); v128.store(at(gg, j), u); v128.store(at(go, j), o);
        v128.store(at(c1, row + j), c);
        v128.store(at(h1, row + j), f32x4.mul(o, v_tanh(c)));
      }
    }
    for (; j < H; j++) {
      const i = s_sigmoid(load<f32>(at(gi, j)));
      const f = s_sigmoid(load<f32>(at(gf, j)));
      const u = s_tanh(load<f32>(at(gg, j)));
      const o = s_sigmoid(load<f32>(at(go, j)));
      const c = f * load<f32>(at(c0, row + j)) + i * u;
      store<f32>(at(gi, j), i); store<f32>(at(gf, j), f); store<f32>(at(gg, j), u); store<f32>(at(go, j), o);
      store<f32>(at(c1, row + j), c);
      store<f32>(at(h1, row + j), o * s_tanh(c));
    }
  }
}

/**
 * A padded step's row in backward: the state gradient passes through unchanged (plus the
 * last-state output's dy, which a padded final step carries), and its pre-activation gradients
 * dG[0..n) are zero.
 */
@inline function padRowBack(H: i32, row: i32, dy: usize, dyAlways: bool, dhc: usize, dG: usize, n: i32): void {
  if (dy && dyAlways) for (let j = 0; j < H; j++) store<f32>(at(dhc, row + j), load<f32>(at(dhc, row + j)) + load<f32>(at(dy, row + j)));
  memory.fill(dG, 0, <usize>n << 2);
}

/**
 * Backward of one LSTM step: dh = dhc + dy (dy of a live step, or `dyAlways` for the last-state
 * output, which a padded step also carries), dc the cell gradient carried from the next step
 * (updated in place to the previous step's), dG[B, 4H] the pre-activation gradients; dhc is left
 * at 0 on live rows (the recurrent product adds into it) and unchanged on padded ones.
 */
@inline function lstmCellBack(simd: bool, B: i32, H: i32, g: usize, c0: usize, c1: usize, dy: usize, dyAlways: bool,
  dhc: usize, dc: usize, dG: usize, mask: usize): void {
  const H4 = H & ~3;
  for (let b = 0; b < B; b++) {
    const row = b * H;
    const isLive = live(mask, b);
    const gi = at(g, b * 4 * H), gf = at(gi, H), gg = at(gi, 2 * H), go = at(gi, 3 * H);
    const di = at(dG, b * 4 * H), df = at(di, H), dgg = at(di, 2 * H), dgo = at(di, 3 * H);
    if (!isLive) {
      padRowBack(H, row, dy, dyAlways, dhc, di, 4 * H);
      continue;
    }
    let j = 0;
    if (simd) {
      const one = f32x4.splat(1);
      for (; j < H4; j += 4) {
        let dh = v128.load(at(dhc, row + j));
        if (dy) dh = f32x4.add(dh, v128.load(at(dy, row + j)));
        const i = v128.load(at(gi, j)), f = v128.load(at(gf, j)), u = v128.load(at(gg, j)), o = v128.load(at(go, j));
        const tc = v_tanh(v128.load(at(c1, row + j)));
        const dct = f32x4.add(v128.load(at(dc, row + j)), f32x4.mul(f32x4.mul(dh, o), f32x4.sub(one, f32x4.mul(tc, tc))));
        v128.store(at(dgo, j), f32x4.mul(f32x4.mul(f32x4.mul(dh, tc), o), f32x4.sub(one, o)));
        v128.store(at(di, j), f32x4.mul(f32x4.mul(f32x4.mul(dct, u), i), f32x4.sub(one, i)));
        v128.store(at(df, j), f32x4.mul(f32x4.mul(f32x4.mul(dct, v128.load(at(c0, row + j))), f), f32x4.sub(one, f)));
        v128.store(at(dgg, j), f32x4.mul(f32x4.mul(dct, i), f32x4.sub(one, f32x4.mul(u, u))));
        v128.store(at(dc, row + j), f32x4.mul(dct, f));
        v128.store(at(dhc, row + j), f32x4.splat(0));
      }
    }
    for (; j < H; j++) {
      let dh = load<f32>(at(dhc, row + j));
      if (dy) dh = dh + load<f32>(at(dy, row + j));
      const i = load<f32>(at(gi, j)), f = load<f32>(at(gf, j)), u = load<f32>(at(gg, j)), o = load<f32>(at(go, j));
      const tc = s_tanh(load<f32>(at(c1, row + j)));
      const dct = load<f32>(at(dc, row + j)) + (dh * o) * (1 - tc * tc);
      store<f32>(at(dgo, j), ((dh * tc) * o) * (1 - o));
      store<f32>(at(di, j), ((dct * u) * i) * (1 - i));
      store<f32>(at(df, j), ((dct * load<f32>(at(c0, row + j))) * f) * (1 - f));
      store<f32>(at(dgg, j), (dct * i) * (1 - u * u));
      store<f32>(at(dc, row + j), dct * f);
      store<f32>(at(dhc, row + j), 0);
    }
  }
}

// ---- products of one step ------------------------------------------------------------------

/**
 * Wᵀ of a backward through time (W [n, k], the recurrent weight), packed once for the SIMD
 * products dG_t·Wᵀ of every step when it fits the GEMM engine's packed block: one k-block, so
 * each output sums its n terms in plain order as the scalar twin does. Nothing for the twin.
 * (The forward keeps per-step products: its k = H is one k-block anyway, and the inference
 * module, which carries the forward, stays as small as it is.)
 */
@inline function packRecurrentT(simd: bool, w: usize, k: i32, n: i32): bool {
  return simd && gemmPackWholeB(true, w, k, k, n);
}

/** C[B, n] (=|+=) A[B, k]·W[k, n] (+ bias), SIMD GEMM or its twin. */
@inline function stepNN(simd: bool, B: i32, n: i32, k: i32, a: usize, w: usize, c: usize, bias: usize, acc: i32): void {
  if (simd) gemm_f32_nn(B, n, k, a, k, w, n, c, n, bias, acc);
  else gemm_f32_nn_scalar(B, n, k, a, k, w, n, c, n, bias, acc);
}

/** C[B, k] (=|+=) D[B, n]·W[k, n]ᵀ: the packed Wᵀ, the SIMD GEMM or its twin. */
@inline function stepNT(simd: bool, packed: bool, B: i32, n: i32, k: i32, d: usize, w: usize, c: usize, acc: i32): void {
  if (packed) gemmPackedB(B, k, n, d, n, c, k, 0, acc);
  else if (simd) gemm_f32_nt(B, k, n, d, n, w, n, c, k, 0, acc);
  else gemm_f32_nt_scalar(B, k, n, d, n, w, n, c, k, 0, acc);
}

/** out (=|+=) x ⊙ m over n elements. */
@inline function mulInto(simd: bool, n: i32, x: usize, m: usize, out: usize, acc: bool): void {
  const n4 = n & ~3;
  let i = 0;
  if (simd) {
    for (; i < n4; i += 4) {
      let v = f32x4.mul(v128.load(at(x, i)), v128.load(at(m, i)));
      if (acc) v = f32x4.add(v128.load(at(out, i)), v);
      v128.store(at(out, i), v);
    }
  }
  for (; i < n; i++) {
    let v = load<f32>(at(x, i)) * load<f32>(at(m, i));
    if (acc) v = load<f32>(at(out, i)) + v;
    store<f32>(at(out, i), v);
  }
}

/**
 * The recurrent input of step t: h[t], or h[t] ⊙ hdrop written to hd[t] (the recurrent dropout
 * mask, the same at every step) when hdrop ≠ 0.
 */
@inline function recurrentInput(simd: bool, t: i32, B: i32, H: i32, h: usize, hdrop: usize, hd: usize): usize {
  const src = at(h, t * B * H);
  if (!hdrop) return src;
  const dst = at(hd, t * B * H);
  mulInto(simd, B * H, src, hdrop, dst, false);
  return dst;
}

/** dhc (+)= (dG_t·Wᵀ) ⊙ hdrop through scratch tmp[B, H], or dG_t·Wᵀ straight into dhc. */
@inline function recurrentBack(simd: bool, packed: bool, B: i32, n: i32, H: i32, dGt: usize, w: usize, dhc: usize, hdrop: usize, tmp: usize): void {
  if (!hdrop) {
    stepNT(simd, packed, B, n, H, dGt, w, dhc, 1);
    return;
  }
  stepNT(simd, packed, B, n, H, dGt, w, tmp, 0);
  mulInto(simd, B * H, tmp, hdrop, dhc, true);
}

// ---- LSTM through time -----------------------------------------------------------------------

function checkRnn(T: i32, B: i32, H: i32): void {
  assert(T >= 1 && B >= 1 && H >= 1, 'rnn: need T, B, H >= 1');
}

@inline function lstmForward(simd: bool, T: i32, B: i32, H: i32, g: usize, wh: usize, h: usize, c: usize, mask: usize, hdrop: usize, hd: usize): void {
  checkRnn(T, B, H);
  const G = 4 * H, BH = B * H;
  for (let t = 0; t < T; t++) {
    const gt = at(g, t * B * G);
    stepNN(simd, B, G, H, recurrentInput(simd, t, B, H, h, hdrop, hd), wh, gt, 0, 1);
    lstmCell(simd, B, H, gt, at(c, t * BH), at(h, t * BH), at(c, (t + 1) * BH), at(h, (t + 1) * BH), mask ? at(mask, t * B) : 0);
  }
}

/**
 * LSTM forward over T steps: g[T, B, 4H] holds x_t·W_x + b on entry (the input products of all
 * steps, one GEMM) and the gate activations on exit; each step adds h_{t−1}·W_h (W_h [H, 4H]) and
 * runs the cell. h, c [T + 1, B, H] with slot 0 the initial state. hdrop [B, H] (or 0): recurrent
 * dropout mask applied to h_{t−1} at every step, the products' inputs saved in hd [T, B, H].
 */
export function lstm_forward_f32(T: i32, B: i32, H: i32, g: usize, wh: usize, h: usize, c: usize, mask: usize, hdrop: usize, hd: usize): void {
  lstmForward(true, T, B, H, g, wh, h, c, mask, hdrop, hd);
}

/** Scalar twin of {@link lstm_forward_f32}. */
export function lstm_forward_f32_scalar(T: i32, B: i32, H: i32, g: usize, wh: usize, h: usize, c: usize, mask: usize, hdrop: usize, hd: usize): void {
  lstmForward(false, T, B, H, g, wh, h, c, mask, hdrop, hd);
}

@inline function lstmBackward(simd: bool, T: i32, B: i32, H: i32, g: usize, wh: usize, c: usize, mask: usize, dy: usize, lastOnly: i32,
  dG: usize, dhc: usize, dc: usize, hdrop: usize, tmp: usize): void {
  checkRnn(T, B, H);
  const G = 4 * H, BH = B * H;
  memory.fill(dhc, 0, <usize>BH << 2);
  memory.fill(dc, 0, <usize>BH << 2);
  const packed = packRecurrentT(simd, wh, G, H);
  for (let t = T - 1; t >= 0; t--) {
    const dyt: usize = dy == 0 ? 0 : lastOnly ? (t == T - 1 ? dy : <usize>0) : at(dy, t * BH);
    const dGt = at(dG, t * B * G);
    lstmCellBack(simd, B, H, at(g, t * B * G), at(c, t * BH), at(c, (t + 1) * BH), dyt, lastOnly != 0, dhc, dc, dGt, mask ? at(mask, t * B) : 0);
    recurrentBack(simd, packed, B, G, H, dGt, wh, dhc, hdrop, tmp);
  }
}

/**
 * LSTM backward through time from the saved activations g and cell states c of
 * {@link lstm_forward_f32}: dy [T, B, H] (the output gradient of every step; padded steps' entries
 * are ignored) or, with lastOnly, dy [B, H] of the final state; writes dG [T, B, 4H], the
 * pre-activation gradients of every step (W_x, W_h, b and x gradients are products of dG). On
 * exit dhc, dc [B, H] hold the gradients of the initial state. tmp [B, H] is scratch for hdrop.
 */
export function lstm_backward_f32(T: i32, B: i32, H: i32, g: usize, wh: usize, c: usize, mask: usize, dy: usize, lastOnly: i32,
  dG: usize, dhc: usize, dc: usize, hdrop: usize, tmp: usize): void {
  lstmBackward(true, T, B, H, g, wh, c, mask, dy, lastOnly, dG, dhc, dc, hdrop, tmp);
}

/** Scalar twin of {@link lstm_backward_f32}. */
export function lstm_backward_f32_scalar(T: i32, B: i32, H: i32, g: usize, wh: usize, c: usize, mask: usize, dy: usize, lastOnly: i32,
  dG: usize, dhc: usize, dc: usize, hdrop: usize, tmp: usize): void {
  lstmBackward(false, T, B, H, g, wh, c, mask, dy, lastOnly, dG, dhc, dc, hdrop, tmp);
}

// ---- GRU ---------------------------------------------------------------------------------------

/**
 * One GRU step (PyTorch's form): r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r ⊙ gh_n),
 * h1 = (1 − z) ⊙ n + z ⊙ h0, where gh = h0·W_h + b_h. gx[B, 3H] gets r, z, n; gh keeps gh_n.
 */
@inline function gruCell(simd: bool, B: i32, H: i32, gx: usize, gh: usize, h0: usize, h1: usize, mask: usize): void {
  const H4 = H & ~3;
  for (let b = 0; b < B; b++) {
    const row = b * H;
    if (!live(mask, b)) {
      memory.copy(at(h1, row), at(h0, row), <usize>H << 2);
      continue;
    }
    const xr = at(gx, b * 3 * H), xz = at(xr, H), xn = at(xr, 2 * H);
    const hr = at(gh, b * 3 * H), hz = at(hr, H), hn = at(hr, 2 * H);
    let j = 0;
    if (simd) {
      const one = f32x4.splat(1);
      for (; j < H4; j += 4) {
        const r = v_sigmoid(f32x4.add(v128.load(at(xr, j)), v128.load(at(hr, j))));
        const z = v_sigmoid(f32x4.add(v128.load(at(xz, j)), v128.load(at(hz, j))));
        const n = v_tanh(f32x4.add(v128.load(at(xn, j)), f32x4.mul(r, v128.load(at(hn, j)))));
        v128.store(at(xr, j), r); v128.store(at(xz, j), z); v128.store(at(xn, j), n);
        v128.store(at(h1, row + j), f32x4.add(f32x4.mul(f32x4.sub(one, z), n), f32x4.mul(z, v128.load(at(h0, row + j)))));
      }
    }
    for (; j < H; j++) {
      const r = s_sigmoid(load<f32>(at(xr, j)) + load<f32>(at(hr, j)));
      const z = s_sigmoid(load<f32>(at(xz, j)) + load<f32>(at(hz, j)));
      const n = s_tanh(load<f32>(at(xn, j)) + r * load<f32>(at(hn, j)));
      store<f32>(at(xr, j), r); store<f32>(at(xz, j), z); store<f32>(at(xn, j), n);
      store<f32>(at(h1, row + j), (1 - z) * n + z * load<f32>(at(h0, row + j)));
    }
  }
}

/**
 * Backward of one GRU step: dh = dhc + dy; writes dGx = (dr, dz, dn) and dGh = (dr, dz, dn ⊙ r)
 * (pre-activation gradients of the input and recurrent products) and leaves dhc = dh ⊙ z, the
 * direct part of the previous state's gradient (the recurrent product adds the rest).
 */
@inline function gruCellBack(simd: bool, B: i32, H: i32, gx: usize, gh: usize, h0: usize, dy: usize, dyAlways: bool,
  dhc: usize, dGx: usize, dGh: usize, mask: usize): void {
  const H4 = H & ~3;
  for (let b = 0; b < B; b++) {
    const row = b * H;
    const xr = at(gx, b * 3 * H), xz = at(xr, H), xn = at(xr, 2 * H);
    const hn = at(gh, b * 3 * H + 2 * H);
    const ar = at(dGx, b * 3 * H), az = at(ar, H), an = at(ar, 2 * H);
    const br = at(dGh, b * 3 * H), bz = at(br, H), bn = at(br, 2 * H);
    if (!live(mask, b)) {
      padRowBack(H, row, dy, dyAlways, dhc, ar, 3 * H);
      memory.fill(br, 0, <usize>(3 * H) << 2);
      continue;
    }
    let j = 0;
    if (simd) {
      const one = f32x4.splat(1);
      for (; j < H4; j += 4) {
        let dh = v128.load(at(dhc, row + j));
        if (dy) dh = f32x4.add(dh, v128.load(at(dy, row + j)));
        const r = v128.load(at(xr, j)), z = v128.load(at(xz, j)), n = v128.load(at(xn, j));
        const dn = f32x4.mul(f32x4.mul(dh, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
        const dz = f32x4.mul(f32x4.mul(f32x4.mul(dh, f32x4.sub(v128.load(at(h0, row + j)), n)), z), f32x4.sub(one, z));
        const dr = f32x4.mul(f32x4.mul(f32x4.mul(dn, v128.load(at(hn, j))), r), f32x4.sub(one, r));
        v128.store(at(ar, j), dr); v128.store(at(az, j), dz); v128.store(at(an, j), dn);
        v128.store(at(br, j), dr); v128.store(at(bz, j), dz); v128.store(at(bn, j), f32x4.mul(dn, r));
        v128.store(at(dhc, row + j), f32x4.mul(dh, z));
      }
    }
    for (; j < H; j++) {
      let dh = load<f32>(at(dhc, row + j));
      if (dy) dh = dh + load<f32>(at(dy, row + j));
      const r = load<f32>(at(xr, j)), z = load<f32>(at(xz, j)), n = load<f32>(at(xn, j));
      const dn = (dh * (1 - z)) * (1 - n * n);
      const dz = ((dh * (load<f32>(at(h0, row + j)) - n)) * z) * (1 - z);
      const dr = ((dn * load<f32>(at(hn, j))) * r) * (1 - r);
      store<f32>(at(ar, j), dr); store<f32>(at(az, j), dz); store<f32>(at(an, j), dn);
      store<f32>(at(br, j), dr); store<f32>(at(bz, j), dz); store<f32>(at(bn, j), dn * r);
      store<f32>(at(dhc, row + j), dh * z);
    }
  }
}

@inline function gruForward(simd: bool, T: i32, B: i32, H: i32, gx: usize, wh: usize, bh: usize, gh: usize, h: usize, mask: usize, hdrop: usize, hd: usize): void {
  checkRnn(T, B, H);
  const G = 3 * H, BH = B * H;
  for (let t = 0; t < T; t++) {
    const ght = at(gh, t * B * G);
    stepNN(simd, B, G, H, recurrentInput(simd, t, B, H, h, hdrop, hd), wh, ght, bh, 0);
    gruCell(simd, B, H, at(gx, t * B * G), ght, at(h, t * BH), at(h, (t + 1) * BH), mask ? at(mask, t * B) : 0);
  }
}

/**
 * GRU forward over T steps: gx[T, B, 3H] holds x_t·W_x + b_x on entry and r, z, n on exit;
 * gh[T, B, 3H] gets h_{t−1}·W_h + b_h (W_h [H, 3H], b_h [3H] or 0); h [T + 1, B, H] with slot 0
 * the initial state; hdrop, hd as in {@link lstm_forward_f32}.
 */
export function gru_forward_f32(T: i32, B: i32, H: i32, gx: usize, wh: usize, bh: usize, gh: usize, h: usize, mask: usize, hdrop: usize, hd: usize): void {
  gruForward(true, T, B, H, gx, wh, bh, gh, h, mask, hdrop, hd);
}

/** Scalar twin of {@link gru_forward_f32}. */
export function gru_forward_f32_scalar(T: i32, B: i32, H: i32, gx: usize, wh: usize, bh: usize, gh: usize, h: usize, mask: usize, hdrop: usize, hd: usize): void {
  gruForward(false, T, B, H, gx, wh, bh, gh, h, mask, hdrop, hd);
}

@inline function gruBackward(simd: bool, T: i32, B: i32, H: i32, gx: usize, gh: usize, wh: usize, h: usize, mask: usize, dy: usize, lastOnly: i32,
  dGx: usize, dGh: usize, dhc: usize, hdrop: usize, tmp: usize): void {
  checkRnn(T, B, H);
  const G = 3 * H, BH = B * H;
  memory.fill(dhc, 0, <usize>BH << 2);
  const packed = packRecurrentT(simd, wh, G, H);
  for (let t = T - 1; t >= 0; t--) {
    const dyt: usize = dy == 0 ? 0 : lastOnly ? (t == T - 1 ? dy : <usize>0) : at(dy, t * BH);
    const dGht = at(dGh, t * B * G);
    gruCellBack(simd, B, H, at(gx, t * B * G), at(gh, t * B * G), at(h, t * BH), dyt, lastOnly != 0, dhc, at(dGx, t * B * G), dGht, mask ? at(mask, t * B) : 0);
    recurrentBack(simd, packed, B, G, H, dGht, wh, dhc, hdrop, tmp);
  }
}

/**
 * GRU backward through time from {@link gru_forward_f32}'s saved gx, gh and h: dy as in
 * {@link lstm_backward_f32}; writes dGx, dGh [T, B, 3H] (gradients of the input and recurrent
 * pre-activations); dhc [B, H] ends as the initial state's gradient; tmp [B, H] scratch for hdrop.
 */
export function gru_backward_f32(T: i32, B: i32, H: i32, gx: usize, gh: usize, wh: usize, h: usize, mask: usize, dy: usize, lastOnly: i32,
  dGx: usize, dGh: usize, dhc: usize, hdrop: usize, tmp: usize): void {
  gruBackward(true, T, B, H, gx, gh, wh, h, mask, dy, lastOnly, dGx, dGh, dhc, hdrop, tmp);
}

/** Scalar twin of {@link gru_backward_f32}. */
export function gru_backward_f32_scalar(T: i32, B: i32, H: i32, gx: usize, gh: usize, wh: usize, h: usize, mask: usize, dy: usize, lastOnly: i32,
  dGx: usize, dGh: usize, dhc: usize, hdrop: usize, tmp: usize): void {
  gruBackward(false, T, B, H, gx, gh, wh, h, mask, dy, lastOnly, dGx, dGh, dhc, hdrop, tmp);
}

// ---- layout and masks ------------------------------------------------------------------------

/**
 * dst[b, a, :] = src[a, b, :] (rows of F elements): swaps the two outer axes of src[A, B, F]
 * (batch-major ↔ time-major). With rowMask [A·B] (or 0), rows whose mask entry (indexed like
 * src's rows) is 0 become zeros. A copy: no arithmetic.
 */
export function rnn_transpose_f32(A: i32, B: i32, F: i32, src: usize, dst: usize, rowMask: usize): void {
  assert(A >= 0 && B >= 0 && F >= 0, 'rnn_transpose_f32: negative size');
  const bytes = <usize>F << 2;
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) {
      const s = at(src, (a * B + b) * F), d = at(dst, (b * A + a) * F);
      if (rowMask && load<f32>(at(rowMask, a * B + b)) == 0) memory.fill(d, 0, bytes);
      else memory.copy(d, s, bytes);
    }
  }
}

/**
 * Step mask of padded sequences: x[B, T, F] batch-major; mask[t·B + b] (time-major) = 1 when
 * step t of sequence b has a value other than ±0, else 0 (a padded step is all zeros). Returns
 * the number of live steps. No arithmetic.
 */
export function rnn_step_mask_f32(B: i32, T: i32, F: i32, x: usize, mask: usize): i32 {
  assert(B >= 0 && T >= 0 && F >= 0, 'rnn_step_mask_f32: negative size');
  let n = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = at(x, (b * T + t) * F);
      let nz = false;
      for (let j = 0; j < F && !nz; j++) nz = (load<u32>(at(row, j)) << 1) != 0;
      store<f32>(at(mask, t * B + b), nz ? 1 : 0);
      if (nz) n++;
    }
  }
  return n;
}

/** out[r, i] (=|+=) x[r, i]·m[i] for r < rows, i < n: a vector broadcast over rows (dropout masks, unit scales). */
export function rnn_mul_rows_f32(rows: i32, n: i32, x: usize, m: usize, out: usize, acc: i32): void {
  assert(rows >= 0 && n >= 0, 'rnn_mul_rows_f32: negative size');
  for (let r = 0; r < rows; r++) mulInto(true, n, at(x, r * n), m, at(out, r * n), acc != 0);
}

/** Scalar twin of {@link rnn_mul_rows_f32}. */
export function rnn_mul_rows_f32_scalar(rows: i32, n: i32, x: usize, m: usize, out: usize, acc: i32): void {
  assert(rows >= 0 && n >= 0, 'rnn_mul_rows_f32_scalar: negative size');
  for (let r = 0; r < rows; r++) mulInto(false, n, at(x, r * n), m, at(out, r * n), acc != 0);
}

// ---- embedding -------------------------------------------------------------------------------

@inline function checkIds(n: i32, ids: usize, V: i32): void {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(at(ids, i));
    assert(v >= 0 && v < <f32>V && v == Mathf.floor(v), 'embedding: ids must be integers in [0, V)');
  }
}

/**
 * out[i, :] = table[ids[i], :] for i < n (ids as f32 integers in [0, V), table [V, D]); with
 * zeroId ≥ 0, rows of that id become zeros (the padding id). A copy: no arithmetic.
 */
export function embedding_lookup_f32(n: i32, D: i32, ids: usize, table: usize, V: i32, out: usize, zeroId: i32): void {
  assert(n >= 0 && D >= 1 && V >= 1, 'embedding_lookup_f32: bad size');
  checkIds(n, ids, V);
  const bytes = <usize>D << 2;
  for (let i = 0; i < n; i++) {
    const id = <i32>load<f32>(at(ids, i));
    if (id == zeroId) memory.fill(at(out, i * D), 0, bytes);
    else memory.copy(at(out, i * D), at(table, id * D), bytes);
  }
}

@inline function embeddingGrad(simd: bool, n: i32, D: i32, ids: usize, dy: usize, V: i32, dtable: usize, zeroId: i32): void {
  assert(n >= 0 && D >= 1 && V >= 1, 'embedding_grad_f32: bad size');
  checkIds(n, ids, V);
  for (let i = 0; i < n; i++) {
    const id = <i32>load<f32>(at(ids, i));
    if (id == zeroId) continue;
    const src = at(dy, i * D), dst = at(dtable, id * D);
    const D4 = D & ~3;
    let j = 0;
    if (simd) for (; j < D4; j += 4) v128.store(at(dst, j), f32x4.add(v128.load(at(dst, j)), v128.load(at(src, j))));
    for (; j < D; j++) store<f32>(at(dst, j), load<f32>(at(dst, j)) + load<f32>(at(src, j)));
  }
}

/**
 * The embedding's row-sparse gradient: dtable[ids[i], :] += dy[i, :] for i < n, in order of i
 * (only the rows of ids present are touched); the zeroId row gets nothing.
 */
export function embedding_grad_f32(n: i32, D: i32, ids: usize, dy: usize, V: i32, dtable: usize, zeroId: i32): void {
  embeddingGrad(true, n, D, ids, dy, V, dtable, zeroId);
}

/** Scalar twin of {@link embedding_grad_f32}. */
export function embedding_grad_f32_scalar(n: i32, D: i32, ids: usize, dy: usize, V: i32, dtable: usize, zeroId: i32): void {
  embeddingGrad(false, n, D, ids, dy, V, dtable, zeroId);
}

// ---- Sparse VD weights sampled once per sequence ------------------------------------------------

@inline function svdSample(simd: bool, n: i32, mean: usize, sigma2: usize, eps: usize, w: usize): void {
  const n4 = n & ~3;
  let i = 0;
  if (simd) for (; i < n4; i += 4) v128.store(at(w, i), f32x4.add(v128.load(at(mean, i)), f32x4.mul(f32x4.sqrt(v128.load(at(sigma2, i))), v128.load(at(eps, i)))));
  for (; i < n; i++) store<f32>(at(w, i), load<f32>(at(mean, i)) + Mathf.sqrt(load<f32>(at(sigma2, i))) * load<f32>(at(eps, i)));
}

/**
 * A whole weight sample w = M + sqrt(σ²)·ε (additive reparameterization, Molchanov et al. 2017),
 * drawn once and used at every time step (Lobacheva et al. 2017: no local reparameterization
 * across steps). mean M, sigma2 σ², eps ε, w: n elements.
 */
export function svd_sample_weights_f32(n: i32, mean: usize, sigma2: usize, eps: usize, w: usize): void {
  svdSample(true, n, mean, sigma2, eps, w);
}

/** Scalar twin of {@link svd_sample_weights_f32}. */
export function svd_sample_weights_f32_scalar(n: i32, mean: usize, sigma2: usize, eps: usize, w: usize): void {
  svdSample(false, n, mean, sigma2, eps, w);
}

@inline function svdSampleGrads(simd: bool, n: i32, dw: usize, eps: usize, sigma2: usize, logAlpha: usize, threshold: f32, dTheta: usize, dLogSigma2: usize): void {
  const n4 = n & ~3;
  let i = 0;
  if (simd) {
    const half = f32x4.splat(0.5), thr = f32x4.splat(threshold), zero = f32x4.splat(0);
    for (; i < n4; i += 4) {
      const d = v128.load(at(dw, i));
      const kept = f32x4.lt(v128.load(at(logAlpha, i)), thr);
      v128.store(at(dTheta, i), f32x4.add(v128.load(at(dTheta, i)), v128.bitselect(d, zero, kept)));
      const g = f32x4.mul(f32x4.mul(f32x4.mul(d, v128.load(at(eps, i))), f32x4.sqrt(v128.load(at(sigma2, i)))), half);
      v128.store(at(dLogSigma2, i), f32x4.add(v128.load(at(dLogSigma2, i)), g));
    }
  }
  for (; i < n; i++) {
    const d = load<f32>(at(dw, i));
    const kept = load<f32>(at(logAlpha, i)) < threshold;
    store<f32>(at(dTheta, i), load<f32>(at(dTheta, i)) + (kept ? d : 0));
    const g = ((d * load<f32>(at(eps, i))) * Mathf.sqrt(load<f32>(at(sigma2, i)))) * 0.5;
    store<f32>(at(dLogSigma2, i), load<f32>(at(dLogSigma2, i)) + g);
  }
}

/**
 * Chain rule of {@link svd_sample_weights_f32} with M = θ where log α < threshold (else 0):
 * dθ += dw on kept weights; dlog σ² += dw·ε·σ/2 (∂w/∂log σ² = ε·σ/2).
 */
export function svd_sample_grads_f32(n: i32, dw: usize, eps: usize, sigma2: usize, logAlpha: usize, threshold: f32, dTheta: usize, dLogSigma2: usize): void {
  svdSampleGrads(true, n, dw, eps, sigma2, logAlpha, threshold, dTheta, dLogSigma2);
}

/** Scalar twin of {@link svd_sample_grads_f32}. */
export function svd_sample_grads_f32_scalar(n: i32, dw: usize, eps: usize, sigma2: usize, logAlpha: usize, threshold: f32, dTheta: usize, dLogSigma2: usize): void {
  svdSampleGrads(false, n, dw, eps, sigma2, logAlpha, threshold, dTheta, dLogSigma2);
}

// ---- group variables (Lobacheva, Chirkova & Vetrov 2018) ----------------------------------------

@inline function zAt(z: usize, i: i32): f32 {
  return z ? load<f32>(at(z, i)) : 1;
}

@inline function groupScale(simd: bool, rows: i32, cols: i32, w: usize, zr: usize, zc: usize, out: usize): void {
  const c4 = cols & ~3;
  for (let i = 0; i < rows; i++) {
    const r = zAt(zr, i), wi = at(w, i * cols), oi = at(out, i * cols);
    let j = 0;
    if (simd) {
      const rv = f32x4.splat(r), one = f32x4.splat(1);
      for (; j < c4; j += 4) v128.store(at(oi, j), f32x4.mul(f32x4.mul(v128.load(at(wi, j)), rv), zc ? v128.load(at(zc, j)) : one));
    }
    for (; j < cols; j++) store<f32>(at(oi, j), (load<f32>(at(wi, j)) * r) * zAt(zc, j));
  }
}

/**
 * out[i, j] = (w[i, j]·zr[i])·zc[j] for w, out [rows, cols] (may alias): the multiplicative group
 * variables of a weight sample, one per input row (zr: input features, hidden units on W_h,
 * words of an embedding) and one per output column (zc: gate pre-activations). A zero pointer
 * stands for all ones.
 */
export function group_scale_f32(rows: i32, cols: i32, w: usize, zr: usize, zc: usize, out: usize): void {
  assert(rows >= 0 && cols >= 0, 'group_scale_f32: bad sizes');
  groupScale(true, rows, cols, w, zr, zc, out);
}

/** Scalar twin of {@link group_scale_f32}. */
export function group_scale_f32_scalar(rows: i32, cols: i32, w: usize, zr: usize, zc: usize, out: usize): void {
  assert(rows >= 0 && cols >= 0, 'group_scale_f32: bad sizes');
  groupScale(false, rows, cols, w, zr, zc, out);
}

@inline function groupScaleGrads(simd: bool, rows: i32, cols: i32, dout: usize, w: usize, zr: usize, zc: usize, dw: usize, dzr: usize, dzc: usize): void {
  const c4 = cols & ~3;
  for (let i = 0; i < rows; i++) {
    const r = zAt(zr, i), di = at(dout, i * cols), wi = at(w, i * cols), gi = at(dw, i * cols);
    // Row sum of dout·w·zc in four lanes (j mod 4), then lanes (0 + 1) + (2 + 3), then the tail:
    // the scalar twin keeps the same four partial sums.
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    let j = 0;
    if (simd) {
      const rv = f32x4.splat(r), one = f32x4.splat(1);
      let acc = f32x4.splat(0);
      for (; j < c4; j += 4) {
        const d = v128.load(at(di, j)), c = zc ? v128.load(at(zc, j)) : one;
        const dw4 = f32x4.mul(d, v128.load(at(wi, j)));
        acc = f32x4.add(acc, f32x4.mul(dw4, c));
        if (dzc) v128.store(at(dzc, j), f32x4.add(v128.load(at(dzc, j)), f32x4.mul(dw4, rv)));
        v128.store(at(gi, j), f32x4.mul(f32x4.mul(d, rv), c));
      }
      s0 = f32x4.extract_lane(acc, 0);
      s1 = f32x4.extract_lane(acc, 1);
      s2 = f32x4.extract_lane(acc, 2);
      s3 = f32x4.extract_lane(acc, 3);
    } else {
      for (; j < c4; j += 4) {
        for (let l = 0; l < 4; l++) {
          const d = load<f32>(at(di, j + l)), c = zAt(zc, j + l);
          const dw1 = d * load<f32>(at(wi, j + l));
          const v = dw1 * c;
          if (l == 0) s0 += v;
          else if (l == 1) s1 += v;
          else if (l == 2) s2 += v;
          else s3 += v;
          if (dzc) store<f32>(at(dzc, j + l), load<f32>(at(dzc, j + l)) + dw1 * r);
          store<f32>(at(gi, j + l), (d * r) * c);
        }
      }
    }
    let s = (s0 + s1) + (s2 + s3);
    for (; j < cols; j++) {
      const d = load<f32>(at(di, j)), c = zAt(zc, j);
      const dw1 = d * load<f32>(at(wi, j));
      s += dw1 * c;
      if (dzc) store<f32>(at(dzc, j), load<f32>(at(dzc, j)) + dw1 * r);
      store<f32>(at(gi, j), (d * r) * c);
    }
    if (dzr) store<f32>(at(dzr, i), load<f32>(at(dzr, i)) + s);
  }
}

/**
 * Chain rule of {@link group_scale_f32} given dout = ∂L/∂out [rows, cols] and the unscaled
 * sample w: dw[i, j] = (dout·zr[i])·zc[j] (written; may alias dout), dzr[i] += Σ_j dout·w·zc[j],
 * dzc[j] += Σ_i dout·w·zr[i]. dzr, dzc may be 0 (not wanted); zr, zc 0 for ones.
 */
export function group_scale_grads_f32(rows: i32, cols: i32, dout: usize, w: usize, zr: usize, zc: usize, dw: usize, dzr: usize, dzc: usize): void {
  assert(rows >= 0 && cols >= 0, 'group_scale_grads_f32: bad sizes');
  groupScaleGrads(true, rows, cols, dout, w, zr, zc, dw, dzr, dzc);
}

/** Scalar twin of {@link group_scale_grads_f32}. */
export function group_scale_grads_f32_scalar(rows: i32, cols: i32, dout: usize, w: usize, zr: usize, zc: usize, dw: usize, dzr: usize, dzc: usize): void {
  assert(rows >= 0 && cols >= 0, 'group_scale_grads_f32: bad sizes');
  groupScaleGrads(false, rows, cols, dout, w, zr, zc, dw, dzr, dzc);
}

// ---- sparse recurrent inference ----------------------------------------------------------------

/**
 * One LSTM step for inference (the recurrent product done by the caller, e.g. through sparse
 * weights): g[B, 4H] pre-activations in, activations out; c0/h0 → c1/h1 [B, H]; mask [B] or 0.
 */
export function lstm_cell_f32(B: i32, H: i32, g: usize, c0: usize, h0: usize, c1: usize, h1: usize, mask: usize): void {
  checkRnn(1, B, H);
  lstmCell(true, B, H, g, c0, h0, c1, h1, mask);
}

/** Scalar twin of {@link lstm_cell_f32}. */
export function lstm_cell_f32_scalar(B: i32, H: i32, g: usize, c0: usize, h0: usize, c1: usize, h1: usize, mask: usize): void {
  checkRnn(1, B, H);
  lstmCell(false, B, H, g, c0, h0, c1, h1, mask);
}

/** One GRU step for inference: gx[B, 3H] (x·W_x + b_x), gh[B, 3H] (h0·W_h + b_h), h0 → h1 [B, H]. */
export function gru_cell_f32(B: i32, H: i32, gx: usize, gh: usize, h0: usize, h1: usize, mask: usize): void {
  checkRnn(1, B, H);
  gruCell(true, B, H, gx, gh, h0, h1, mask);
}

/** Scalar twin of {@link gru_cell_f32}. */
export function gru_cell_f32_scalar(B: i32, H: i32, gx: usize, gh: usize, h0: usize, h1: usize, mask: usize): void {
  checkRnn(1, B, H);
  gruCell(false, B, H, gx, gh, h0, h1, mask);
}

/**
 * C[b, :] (= bias | +=) Σ_k A[b, k]·W[k, :] for row-major A[B, K] (row stride lda) and W [K, N]
 * held as CSR by rows of k (rowPtr [K + 1], colIdx, vals; indices as f32 integers): one
 * multiply-add per (row of A, kept weight), skipping zeros of A. With acc = 0, C starts at bias
 * (or 0 when bias = 0). Scalar: a scatter into C's row has no fixed lanes.
 */
export function csr_rows_gemm_f32(B: i32, K: i32, N: i32, a: usize, lda: i32, rowPtr: usize, colIdx: usize, vals: usize, c: usize, ldc: i32, bias: usize, acc: i32): void {
  assert(B >= 0 && K >= 0 && N >= 0 && lda >= K && ldc >= N, 'csr_rows_gemm_f32: bad sizes');
  for (let b = 0; b < B; b++) {
    const crow = at(c, b * ldc), arow = at(a, b * lda);
    if (!acc) {
      if (bias) memory.copy(crow, bias, <usize>N << 2);
      else memory.fill(crow, 0, <usize>N << 2);
    }
    for (let k = 0; k < K; k++) {
      const x = load<f32>(at(arow, k));
      if (x == 0) continue;
      const p1 = <i32>load<f32>(at(rowPtr, k + 1));
      for (let p = <i32>load<f32>(at(rowPtr, k)); p < p1; p++) {
        const dst = at(crow, <i32>load<f32>(at(colIdx, p)));
        store<f32>(dst, load<f32>(dst) + x * load<f32>(at(vals, p)));
      }
    }
  }
}
