// The README's test command: the whole vitest suite in Node and in headless Chromium, ending with
// the plain line "N passed, N failed" that CI reads. Test files that did not run count as failed.
//
// Chromium is looked up in CHROMIUM_PATH, Debian's /usr/bin/chromium (and chromium-browser),
// then Playwright's browser cache. When none runs, a root shell with apt-get installs Debian's
// `chromium`; anywhere else the script stops at once with one line saying what to install.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** True when `file` starts as a headless browser and renders a blank page (Debian's wrapper
 * script exists even when the browser behind it is gone, so existence alone proves nothing). */
function runs(file) {
  if (!file) return false;
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    return false;
  }
  const r = spawnSync(file, ['--headless', '--no-sandbox', '--disable-gpu', '--dump-dom', 'about:blank'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 && r.stdout.includes('<body>');
}

/** Executables in Playwright's browser cache (any revision, full browser or headless shell). */
function playwrightCache() {
  const base = process.env.PLAYWRIGHT_BROWSERS_PATH || path.join(os.homedir(), '.cache', 'ms-playwright');
  let dirs = [];
  try {
    dirs = fs.readdirSync(base).filter((d) => /^chromium(_headless_shell)?-\d+$/.test(d)).sort().reverse();
  } catch {
    return [];
  }
  const inside = ['chrome-linux64/chrome', 'chrome-linux/chrome', 'chrome-headless-shell-linux64/chrome-headless-shell', 'chrome-linux/headless_shell'];
  return dirs.flatMap((d) => inside.map((f) => path.join(base, d, f)));
}

function findChromium() {
  const env = process.env.CHROMIUM_PATH;
  if (env) {
    if (runs(env)) return env;
    console.error(`CHROMIUM_PATH=${env} does not start as a headless Chromium: point it at a working browser or unset it`);
    process.exit(1);
  }
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', ...playwrightCache()].find(runs);
}

function installChromium() {
  const apt = ['/usr/bin/apt-get', '/bin/apt-get'].find((f) => fs.existsSync(f));
  if (process.getuid?.() !== 0 || !apt) return false;
  console.log("No Chromium found: installing Debian's chromium (apt-get update && apt-get install -y chromium)");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const quiet = { stdio: ['ignore', 'ignore', 'inherit'], env };
  if (spawnSync(apt, ['update', '-qq'], quiet).status !== 0) return false;
  // --reinstall (with chromium-common, which holds its data files) also repairs a package that
  // dpkg lists as installed but whose files are gone.
  return spawnSync(apt, ['install', '-y', '-qq', '--reinstall', 'chromium', 'chromium-common'], quiet).status === 0;
}

let chromium = findChromium();
if (!chromium && installChromium()) chromium = findChromium();
if (!chromium) {
  console.error('npm test needs Chromium for the browser half of the suite: install it (Debian/Ubuntu, as root: apt-get update && apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium/Chrome executable');
  process.exit(1);
}

const summary = path.join(os.tmpdir(), `vardrop-summary-${process.pid}.json`);
const args = ['vitest', 'run', '--reporter=default', `--reporter=${path.join(root, 'scripts/summary-reporter.mjs')}`, ...process.argv.slice(2)];
const r = spawnSync('npx', args, { stdio: 'inherit', cwd: root, env: { ...process.env, CHROMIUM_PATH: chromium, VARDROP_SUMMARY: summary } });

let s;
try {
  s = JSON.parse(fs.readFileSync(summary, 'utf8'));
  fs.rmSync(summary);
} catch {
  s = { passed: 0, failed: 1, skipped: 0, notRun: [], errors: [`vitest ended (exit ${r.status ?? r.signal}) before reporting any result`] };
}
for (const f of s.notRun) console.log(`did not run: ${f}`);
for (const e of s.errors) console.log(`unhandled error: ${e}`);
console.log(`${s.passed} passed, ${s.failed} failed${s.skipped ? `, ${s.skipped} skipped` : ''}`);
process.exit(s.failed > 0 ? 1 : (r.status ?? 1));
