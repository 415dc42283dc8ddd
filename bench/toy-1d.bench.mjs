// Toy 1-D regression with a gap in the data: y = x·sin(x) + ε (σ = 0.3), x in [−5, −1.5] ∪ [1.5, 5].
// An SGLD ensemble (1-50-1 ReLU, fixed noise precision) and the student distilled from it
// (mean and log-variance outputs, trained on the inputs plus Gaussian-perturbed copies that
// reach into the gap) draw their predictive mean ± 2σ over [−7, 7] into bench/out/toy-1d.svg.
// Prints one line per model with the mean predictive σ inside the gap and on the data, so the
// figure's claim (uncertainty grows where there is no data) is also a number.
// BENCH_EPOCHS overrides the sampling epochs (default 400).
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as vd from '../dist/index.js';
import { report } from './peers.mjs';

const { Sequential, Dense, ReLU, Adam, SGLD, fit, sample, distill, Ensemble, Rng } = vd;
const here = path.dirname(new URL(import.meta.url).pathname);
const EPOCHS = process.env.BENCH_EPOCHS ? Number(process.env.BENCH_EPOCHS) : 400;
const NOISE = 0.3, N = 120;

// Data from the wasm generator (Rng), so the figure is the same everywhere.
const rng = new Rng(7, 1);
const xs = new Float32Array(N), ys = new Float32Array(N);
for (let i = 0; i < N; i++) {
  const u = rng.uniform();
  const x = i % 2 ? -5 + 3.5 * u : 1.5 + 3.5 * u;
  const g = Math.sqrt(-2 * Math.log(1 - rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
  xs[i] = x;
  ys[i] = x * Math.sin(x) + NOISE * g;
}
const grid = Float32Array.from({ length: 281 }, (_, i) => -7 + i * 0.05);
const mlp = (seed, out) => new Sequential({ inputShape: [1], seed, layers: [new Dense({ units: 50 }), new ReLU(), new Dense({ units: 50 }), new ReLU(), new Dense({ units: out })] });

const t0 = performance.now();
const m = mlp(1, 1);
fit(m, xs, ys, { epochs: 300, batchSize: 20, loss: 'mse', optimizer: new Adam({ lr: 1e-2 }), progress: false });
const tau = 1 / (NOISE * NOISE);
const steps = EPOCHS * Math.ceil(N / 20);
const r = sample(m, xs, ys, {
  sampler: new SGLD({ stepSize: 4e-2 / (N * tau), datasetSize: Math.round(N * tau), priorPrecision: 1, seed: 3 }),
  epochs: EPOCHS, batchSize: 20, burnIn: Math.floor(steps / 4), thin: Math.max(1, Math.floor((3 * steps) / 4 / 100)), loss: 'mse', progress: false,
  ensemble: { task: 'regression', likelihood: 'mse', noiseVariance: NOISE * NOISE },
});
const ens = r.ensemble;
const teacherSec = (performance.now() - t0) / 1000;
const st = mlp(2, 2);
const t1 = performance.now();
distill(ens, st, xs, { epochs: EPOCHS, batchSize: 20, perturb: { std: 1.5, copies: 2 }, optimizer: new Adam({ lr: 3e-3 }) });
const studentSec = (performance.now() - t1) / 1000;
const stE = Ensemble.fromModels([st], { task: 'regression' });
const pe = ens.predictRegression(grid), ps = stE.predictRegression(grid);

function sigmas(p) {
  let gap = 0, ng = 0, data = 0, nd = 0;
  grid.forEach((x, i) => {
    const s = Math.sqrt(p.variance[i]);
    if (Math.abs(x) < 1.2) { gap += s; ng++; } else if (Math.abs(x) > 1.8 && Math.abs(x) < 4.7) { data += s; nd++; }
  });
  return { sigmaGap: Math.round((gap / ng) * 1000) / 1000, sigmaData: Math.round((data / nd) * 1000) / 1000 };
}

// ---- SVG ------------------------------------------------------------------------------------
const W = 720, H = 360, X0 = -7, X1 = 7, Y0 = -8, Y1 = 8;
const px = (x) => ((x - X0) / (X1 - X0)) * W, py = (y) => H - ((Math.max(Y0, Math.min(Y1, y)) - Y0) / (Y1 - Y0)) * H;
const band = (p, color) => {
  const up = Array.from(grid, (x, i) => `${px(x).toFixed(1)},${py(p.mean[i] + 2 * Math.sqrt(p.variance[i])).toFixed(1)}`);
  const lo = Array.from(grid, (x, i) => `${px(x).toFixed(1)},${py(p.mean[i] - 2 * Math.sqrt(p.variance[i])).toFixed(1)}`).reverse();
  const mean = Array.from(grid, (x, i) => `${px(x).toFixed(1)},${py(p.mean[i]).toFixed(1)}`).join(' ');
  return `<polygon points="${[...up, ...lo].join(' ')}" fill="${color}" fill-opacity="0.25" stroke="none"/>\n<polyline points="${mean}" fill="none" stroke="${color}" stroke-width="2"/>`;
};
const truth = Array.from(grid, (x) => `${px(x).toFixed(1)},${py(x * Math.sin(x)).toFixed(1)}`).join(' ');
const dots = Array.from(xs, (x, i) => `<circle cx="${px(x).toFixed(1)}" cy="${py(ys[i]).toFixed(1)}" r="2.5" fill="#222"/>`).join('\n');
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 30}" viewBox="0 0 ${W} ${H + 30}" font-family="sans-serif" font-size="13">
<rect width="${W}" height="${H}" fill="#fff" stroke="#ccc"/>
${band(pe, '#1f77b4')}
${band(ps, '#d62728')}
<polyline points="${truth}" fill="none" stroke="#666" stroke-dasharray="4 3"/>
${dots}
<text x="8" y="${H + 20}"><tspan fill="#1f77b4">SGLD ensemble (${ens.size} samples), mean ± 2σ</tspan>   <tspan fill="#d62728">distilled student, mean ± 2σ</tspan>   <tspan fill="#666">x·sin x</tspan></text>
</svg>
`;
const outDir = path.join(here, 'out');
fs.mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, 'toy-1d.svg');
fs.writeFileSync(file, svg);
report({ bench: 'toy-1d', case: 'sgld-ensemble', samples: ens.size, ...sigmas(pe), seconds: Math.round(teacherSec * 10) / 10, epochs: EPOCHS, svg: path.relative(path.resolve(here, '..'), file) });
report({ bench: 'toy-1d', case: 'student', ...sigmas(ps), seconds: Math.round(studentSec * 10) / 10, epochs: EPOCHS, svg: path.relative(path.resolve(here, '..'), file) });
for (const e of [ens, stE]) e.dispose();
m.dispose();
st.dispose();
