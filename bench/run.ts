/**
 * Benchmark dispatcher: `npm run bench -- NAME [options]` or `sparsecell bench NAME`.
 * Each benchmark module exports run(args) -> a JSON-able result, written to bench/results/NAME.json.
 * Benchmarks are not tests: they measure and report; goals are printed next to the figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');

const BENCHES: Record<string, string> = {
  rpc: './rpc.js',
  'train-step': './train-step.js',
  quality: './quality.js',
  live: './live.js',
  study: './study.js',
  families: './families.js',
  predict: './predict.js',
  'gpu-check': './gpu-check.js',
  'class-balance': './class-balance.js',
  finetune: './finetune.js',
  grid: './grid.js',
  'suggest-study': './suggest-study.js',
  'suggest-speed': './suggest-speed.js',
  cluster: './cluster.js',
};

/** The commit the benchmark ran on ("<sha>+dirty" when the work tree had changes; "unknown" outside git). */
export function gitCommit(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' });
  if (head.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' });
  return head.stdout.trim() + (dirty.stdout.trim() ? '+dirty' : '');
}

/** What every committed result carries: the bench, its command line, the commit, the machine and the date. */
export function provenance(name: string, args: string[]): Record<string, unknown> {
  return {
    bench: name,
    command: `npm run bench -- ${[name, ...args].join(' ')}`,
    commit: gitCommit(),
    finished: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: process.platform,
    },
  };
}

export async function runBench(argv: string[]): Promise<number> {
  let [name, ...args] = argv.filter((a) => a !== '--');
  // --out NAME writes bench/results/NAME.json instead of <bench>.json (before/after runs side by side).
  const o = args.indexOf('--out');
  let outName = name;
  if (o >= 0 && name !== 'study') {
    outName = args[o + 1];
    args = [...args.slice(0, o), ...args.slice(o + 2)];
  }
  if (!name || !BENCHES[name]) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [options]\n`);
    return 2;
  }
  const mod = (await import(BENCHES[name])) as { run(args: string[]): Promise<Record<string, unknown>> };
  const started = new Date().toISOString();
  // The development machine is shared: the 1-minute load average before and after says how busy it was.
  const loadBefore = os.loadavg()[0];
  const result = await mod.run(args);
  const out: Record<string, unknown> = { ...provenance(name, args), started, ...result };
  (out.machine as Record<string, unknown>).loadAverage1m = { before: Math.round(loadBefore * 100) / 100, after: Math.round(os.loadavg()[0] * 100) / 100 };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${outName}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`\nwrote ${file}\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runBench(process.argv.slice(2)).then(
    (c) => (process.exitCode = c),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
