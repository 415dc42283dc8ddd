// The drawing pad: strokes in white on black, turned into a 28×28 MNIST-like image (the digit's
// bounding box scaled into 20×20, then moved so that its centre of mass sits at the centre).

export function setupPad(canvas, onDone) {
  const g = canvas.getContext('2d');
  const clear = () => { g.fillStyle = '#000'; g.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false, last = null;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * (canvas.width / r.width), (ev.clientY - r.top) * (canvas.height / r.height)];
  };
  canvas.addEventListener('pointerdown', (ev) => { drawing = true; last = at(ev); canvas.setPointerCapture?.(ev.pointerId); });
  canvas.addEventListener('pointermove', (ev) => {
    if (!drawing) return;
    const p = at(ev);
    g.strokeStyle = '#fff'; g.lineWidth = 18; g.lineCap = 'round'; g.lineJoin = 'round';
    g.beginPath(); g.moveTo(last[0], last[1]); g.lineTo(p[0], p[1]); g.stroke();
    last = p;
  });
  const end = () => { if (drawing) { drawing = false; onDone(); } };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointerleave', end);
  return { clear };
}

/** 784 floats in [0, 1] from the pad, or null when it is empty. */
export function padToMnist(canvas) {
  const W = canvas.width, H = canvas.height;
  const src = canvas.getContext('2d').getImageData(0, 0, W, H).data;
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    if (src[(y * W + x) * 4] > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1, s = 20 / Math.max(bw, bh);
  const small = new OffscreenCanvas(28, 28);
  const sg = small.getContext('2d');
  sg.fillStyle = '#000'; sg.fillRect(0, 0, 28, 28);
  sg.imageSmoothingQuality = 'high';
  sg.drawImage(canvas, x0, y0, bw, bh, (28 - bw * s) / 2, (28 - bh * s) / 2, bw * s, bh * s);
  const d = sg.getImageData(0, 0, 28, 28).data;
  const img = new Float32Array(784);
  let m = 0, cx = 0, cy = 0;
  for (let i = 0; i < 784; i++) { const v = d[i * 4] / 255; img[i] = v; m += v; cx += v * (i % 28); cy += v * Math.floor(i / 28); }
  const dx = Math.round(13.5 - cx / m), dy = Math.round(13.5 - cy / m);
  const out = new Float32Array(784);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const sx = x - dx, sy = y - dy;
    if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[y * 28 + x] = img[sy * 28 + sx];
  }
  return out;
}

/** Paint a 28×28 image (floats in [0, 1]) onto the pad, scaled up. */
export function showOnPad(canvas, img) {
  const small = new OffscreenCanvas(28, 28);
  const sg = small.getContext('2d');
  const id = sg.createImageData(28, 28);
  for (let i = 0; i < 784; i++) { const v = Math.round(img[i] * 255); id.data.set([v, v, v, 255], i * 4); }
  sg.putImageData(id, 0, 0);
  const g = canvas.getContext('2d');
  g.imageSmoothingEnabled = false;
  g.drawImage(small, 0, 0, canvas.width, canvas.height);
}
