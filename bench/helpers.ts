/** Shared benchmark helpers: a spawned daemon, latency statistics. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERIAL_GC_FLAG } from '../server/cli/relaunch.js';

export const MAIN_JS = join(dirname(fileURLToPath(import.meta.url)), '..', 'server', 'main.js');

export interface SpawnedDaemon {
  url: string;
  proc: ChildProcess;
  home: string;
  stop(): Promise<void>;
}

/** Start `sparsecell serve --port 0` in its own process (so client load does not share its event loop). */
export function spawnDaemon(extra: string[] = []): Promise<SpawnedDaemon> {
  const home = mkdtempSync(join(tmpdir(), 'sparsecell-bench-'));
  // BENCH_DAEMON_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=prof") profiles the daemon.
  const nodeArgs = process.env.BENCH_DAEMON_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  // The daemon runs as `sparsecell serve` runs it (under --single-threaded-gc, server/cli/relaunch.ts); for an A/B,
  // BENCH_DAEMON_GC=parallel starts it with V8's default collectors.
  const gcArgs = process.env.BENCH_DAEMON_GC === 'parallel' ? { node: [], serve: ['--gc', 'parallel'] } : { node: [SERIAL_GC_FLAG], serve: [] };
  const proc = spawn(
    process.execPath,
    [...nodeArgs, ...gcArgs.node, MAIN_JS, 'serve', '--port', '0', '--home', home, '--log-level', 'warn', ...gcArgs.serve, ...extra],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on ws:\/\/[^:]+:(\d+)/.exec(out);
      if (m)
        resolve({
          url: `ws://127.0.0.1:${m[1]}`,
          proc,
          home,
          stop: () =>
            new Promise<void>((r) => {
              proc.once('exit', () => {
                rmSync(home, { recursive: true, force: true });
                r();
              });
              proc.kill('SIGTERM');
            }),
        });
    });
    proc.once('exit', (c) => reject(new Error(`daemon exited with ${c}`)));
  });
}

export function stats(ms: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const r = (v: number) => Math.round(v * 100) / 100;
  return { n: s.length, p50: r(q(0.5)), p90: r(q(0.9)), p99: r(q(0.99)), max: r(s[s.length - 1]), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

export function flag(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

export function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}
