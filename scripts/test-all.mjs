#!/usr/bin/env node
// The project's test command (`npm test`): build, TypeScript tests (mocha), the Python client tests (pytest, real
// daemon), the napari client tests (pytest, real viewer offscreen, real daemon), the Fiji client tests (JUnit via
// Maven, real daemon), the bioimage.io suite (sparsecell's model packages checked by bioimageio.spec /
// bioimageio.core from PyPI) and the artifacts suite (the npm tarball and the Python wheels installed and run).
// Each suite's script installs what it needs. Prints one summary line "tests: N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = (process.env.SPARSECELL_SUITES ?? 'ts,python,napari,fiji,bioimageio,artifacts').split(',');
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
// What each failed suite said about its failures, printed again at the very end: CI logs are often shown only by
// their tail, and a suite's own failure report scrolls out of it behind the later suites.
const failureDetails = [];

function run(name, cmd, args, parse, env = {}) {
  process.stdout.write(`\n=== ${name}: ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  const counts = parse ? parse(`${r.stdout}\n${r.stderr}`) : undefined;
  if (counts) {
    totals.passed += counts.passed;
    totals.failed += counts.failed;
    totals.skipped += counts.skipped;
  }
  if (r.status !== 0) {
    failures.push(`${name} (exit ${r.status ?? r.signal})`);
    failureDetails.push(`--- ${name}\n${failureReport(`${r.stdout ?? ''}\n${r.stderr ?? ''}`)}`);
    if (counts && counts.failed === 0) totals.failed += 1; // a crash or build failure counts as a failure
  }
  return r.status === 0;
}

/** The part of a suite's output that says what failed: mocha's "N failing" section, pytest's short summary, Maven's
 * failed-test lines; else the output's last lines. At most 8,000 characters. */
function failureReport(out) {
  const lines = out.split('\n');
  const from = lines.findIndex((l) => /^\s*\d+ failing\s*$/.test(l) || /^=+ (short test summary info|FAILURES) =+/.test(l) || /\[ERROR\] (Failures|Errors|Tests run:.*FAIL)/.test(l));
  const text = (from >= 0 ? lines.slice(from) : lines.slice(-60)).join('\n').trim();
  return text.length > 8000 ? `${text.slice(0, 8000)}\n[... ${text.length - 8000} more characters]` : text;
}

const num = (re, s) => { let n = 0; for (const m of s.matchAll(re)) n += Number(m[1]); return n; };
const mocha = (s) => ({ passed: num(/^\s*(\d+) passing/gm, s), failed: num(/^\s*(\d+) failing/gm, s), skipped: num(/^\s*(\d+) pending/gm, s) });
const pytest = (s) => {
  const line = [...s.matchAll(/^=+ (.*(?:passed|failed|error|skipped).*) in [\d.]+s/gm)].pop()?.[1] ?? '';
  return { passed: num(/(\d+) passed/g, line), failed: num(/(\d+) failed/g, line) + num(/(\d+) errors?/g, line), skipped: num(/(\d+) skipped/g, line) };
};
const surefire = (s) => {
  const m = [...s.matchAll(/Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)\s*$/gm)].pop();
  if (!m) return { passed: 0, failed: 0, skipped: 0 };
  const [run_, f, e, sk] = m.slice(1).map(Number);
  return { passed: run_ - f - e - sk, failed: f + e, skipped: sk };
};

const built = run('build', 'npx', ['tsc', '-p', 'tsconfig.json'], undefined);
// Formatter and linter (Biome; `npm run format` fixes formatting): counted as one check.
if (only.includes('ts')) run('lint (biome check)', 'npx', ['biome', 'check', '.'], (out) => (/Checked \d+ files/.test(out) ? { passed: /^Found \d+ errors?\./m.test(out) ? 0 : 1, failed: /^Found \d+ errors?\./m.test(out) ? 1 : 0, skipped: 0 } : undefined));
// After `npm run native` the daemons pick the 'tensorflow' backend; the end-to-end suites then run a second
// time on wasm, the backend every install has.
// (The same test as server/tensor/backend.ts hasBinding: a compiled lib/napi-v*/tfjs_binding.node.)
const tfjsNodeLib = join(root, 'node_modules', '@tensorflow', 'tfjs-node', 'lib');
const nativeBuilt = existsSync(tfjsNodeLib) && readdirSync(tfjsNodeLib).some((d) => existsSync(join(tfjsNodeLib, d, 'tfjs_binding.node')));
if (built && only.includes('ts')) {
  run(nativeBuilt ? 'typescript (daemons on tensorflow)' : 'typescript', 'npx', ['mocha'], mocha);
  if (nativeBuilt) run('typescript e2e (daemons on wasm)', 'npx', ['mocha'], mocha, { SPARSECELL_BACKEND: 'wasm', MOCHA_SPEC: 'dist/test/e2e/*.test.js' });
}
if (built && only.includes('python')) {
  const s = join(root, 'clients', 'python', 'scripts', 'ci.sh');
  if (existsSync(s)) run('python client', 'bash', [s], pytest);
  else failures.push('python client (clients/python/scripts/ci.sh missing)');
}
if (built && only.includes('napari')) {
  const s = join(root, 'clients', 'napari', 'scripts', 'ci.sh');
  if (existsSync(s)) run('napari', 'bash', [s], pytest);
  else failures.push('napari (clients/napari/scripts/ci.sh missing)');
}
if (built && only.includes('fiji')) {
  const s = join(root, 'clients', 'fiji', 'ci.sh');
  if (existsSync(s)) run('fiji', 'bash', [s], surefire);
  else failures.push('fiji (clients/fiji/ci.sh missing)');
}
if (built && only.includes('bioimageio')) run('bioimageio', 'bash', [join(root, 'scripts', 'bioimageio-ci.sh')], pytest);
// The installable artifacts, tested as installed: npm pack -> npm install -g into a temporary prefix -> sparsecell
// serve; the Python wheels in fresh venvs (scripts/artifacts-ci.sh, a few minutes, needs the npm registry and PyPI).
if (built && only.includes('artifacts')) run('artifacts', 'bash', [join(root, 'scripts', 'artifacts-ci.sh')], pytest);
if (!built) totals.failed += 1;
if (failureDetails.length) process.stdout.write(`\n=== what failed (repeated from the suites above)\n${failureDetails.join('\n\n')}\n`);
process.stdout.write(`\n${failures.length ? `failed suites: ${failures.join(', ')}\n` : ''}tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(failures.length || totals.failed ? 1 : totals.passed === 0 ? 1 : 0);
