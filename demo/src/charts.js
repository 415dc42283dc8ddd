// Plain canvas drawing for the demo: line charts, the first layer's masks, probability bars.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

/**
 * Line chart of `series` ([{ label, points: [x0, y0, x1, y1, ...] }]) with min/max tick labels;
 * `log` plots y on a log10 axis.
 */
export function lineChart(canvas, series, { log = false, yMin, yMax, xLabel = 'step' } = {}) {
  const g = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 44, R = 8, T = 8, B = 30;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  const tf = (y) => (log ? Math.log10(Math.max(y, 1e-12)) : y);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.points.length; i += 2) {
      const x = s.points[i], y = tf(s.points[i + 1]);
      if (!Number.isFinite(y)) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  if (yMin !== undefined) y0 = tf(yMin);
  if (yMax !== undefined) y1 = Math.max(y1, tf(yMax));
  g.strokeStyle = '#999';
  g.strokeRect(L, T, W - L - R, H - T - B);
  if (!(x1 >= x0) || !(y1 >= y0)) return false;
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => T + (1 - (tf(y) - y0) / (y1 - y0)) * (H - T - B);
  g.fillStyle = '#444';
  g.font = '11px system-ui, sans-serif';
  g.textAlign = 'right';
  const inv = (v) => (log ? 10 ** v : v);
  g.fillText(fmt(inv(y1)), L - 4, T + 9);
  g.fillText(fmt(inv(y0)), L - 4, H - B);
  g.textAlign = 'center';
  g.fillText(`${fmt(x0)}`, L, H - B + 14);
  g.fillText(`${fmt(x1)}`, W - R - 10, H - B + 14);
  g.fillText(xLabel, (L + W - R) / 2, H - B + 14);
  series.forEach((s, k) => {
    g.strokeStyle = COLORS[k % COLORS.length];
    g.lineWidth = 1.5;
    g.beginPath();
    for (let i = 0; i < s.points.length; i += 2) {
      const X = px(s.points[i]), Y = py(s.points[i + 1]);
      if (i === 0) g.moveTo(X, Y); else g.lineTo(X, Y);
    }
    if (s.points.length === 2) g.arc(px(s.points[0]), py(s.points[1]), 2, 0, 2 * Math.PI);
    g.stroke();
    if (series.length > 1) {
      g.fillStyle = COLORS[k % COLORS.length];
      g.textAlign = 'left';
      g.fillText(s.label, L + 6 + 70 * k, T + 12);
    }
  });
  return true;
}

/**
 * The first layer's kept-weight mask (`mask[i·units + u]`, 784 inputs × `units`) as one 28×28
 * tile per hidden unit, `cols` tiles a row, kept weights white.
 */
export function drawMasks(canvas, mask, units, cols = 20) {
  const g = canvas.getContext('2d');
  const tile = 29, rows = Math.ceil(units / cols), W = cols * tile;
  const img = g.createImageData(W, rows * tile);
  // One 32-bit RGBA word per pixel (little-endian byte order: 0xAABBGGRR), row by row of each tile.
  const px = new Uint32Array(img.data.buffer);
  px.fill(0xff5a3c3c);
  for (let u = 0; u < units; u++) {
    const origin = Math.floor(u / cols) * tile * W + (u % cols) * tile;
    for (let r = 0, i = u; r < 28; r++) {
      for (let c = 0, p = origin + r * W; c < 28; c++, p++, i += units) px[p] = mask[i] ? 0xffffffff : 0xff000000;
    }
  }
  g.putImageData(img, 0, 0);
}

/** Ten probability bars with the digit under each; `std` (optional) as whiskers. */
export function drawBars(canvas, probs, std) {
  const g = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, B = 16, w = W / 10;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  let best = 0;
  for (let c = 1; c < 10; c++) if (probs[c] > probs[best]) best = c;
  for (let c = 0; c < 10; c++) {
    const h = probs[c] * (H - B - 4);
    g.fillStyle = c === best ? '#d62728' : '#1f77b4';
    g.fillRect(c * w + 4, H - B - h, w - 8, h);
    if (std) {
      g.strokeStyle = '#000';
      const lo = Math.max(0, probs[c] - std[c]) * (H - B - 4), hi = Math.min(1, probs[c] + std[c]) * (H - B - 4);
      g.beginPath(); g.moveTo(c * w + w / 2, H - B - lo); g.lineTo(c * w + w / 2, H - B - hi); g.stroke();
    }
    g.fillStyle = '#222';
    g.font = '12px system-ui, sans-serif';
    g.textAlign = 'center';
    g.fillText(String(c), c * w + w / 2, H - 3);
  }
}
