/**
 * Cluster processes for the tests (test/cluster/) and the cluster benchmark (bench/cluster.ts): a real redis-server (installed by scripts/ensure-redis.sh, started on a free loopback port
 * with its own folder and an fsync-always append-only file), compute workers and front daemons as child processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERIAL_GC_FLAG } from '../server/cli/relaunch.js';

/** dist/ (this file is dist/scripts/cluster-procs.js once built). */
const DIST_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN_JS = join(DIST_ROOT, 'server', 'main.js');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function waitExit(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}

export function redisServerPath(): string {
  const script = join(DIST_ROOT, '..', 'scripts', 'ensure-redis.sh');
  return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  /** kill -9 */
  kill(): Promise<void>;
  /** Start again on the same port and folder (its append-only file brings the queue back). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const bin = redisServerPath();
  const port = await freePort();
  const dir = tempDir('sparsecell-redis-');
  const launch = () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const proc = spawn(
        bin,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
          '--protected-mode',
          'yes',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 15_000);
      proc.stdout!.on('data', (d) => {
        out += d;
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(t);
          resolve(proc);
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`redis-server exited with ${code}: ${out}`));
      });
    });
  const r: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    proc: await launch(),
    async kill() {
      r.proc.kill('SIGKILL');
      await waitExit(r.proc);
    },
    async restart() {
      r.proc = await launch();
    },
    async stop() {
      r.proc.kill('SIGTERM');
      await waitExit(r.proc);
    },
  };
  return r;
}

export interface TestWorker {
  proc: ChildProcess;
  workerId: string;
  output: () => string;
}

/** Short BullMQ lock / stalled check and short slices, so a dead worker's slice moves within seconds. */
export const FAST_WORKER_ENV = { SPARSECELL_LOCK_MS: '3000', SPARSECELL_STALLED_MS: '1500', SPARSECELL_SLICE_MS: '300' };

export function spawnWorker(redisUrl: string, home: string, workerId: string, env: NodeJS.ProcessEnv = {}): Promise<TestWorker> {
  const proc = spawn(process.execPath, [MAIN_JS, 'worker', '--redis', redisUrl, '--home', home, '--id', workerId, '--tf-threads', '1,1'], {
    env: { ...process.env, ...FAST_WORKER_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker did not start: ${out}`)), 60_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      if (/takes jobs from/.test(out)) {
        clearTimeout(t);
        resolve({ proc, workerId, output: () => out });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`worker exited with ${code}: ${out}`));
    });
  });
}

export interface TestFront {
  proc: ChildProcess;
  url: string;
}

/** `sparsecell serve --redis URL --home DIR --port 0` (a front daemon), once it listens. */
export function spawnFront(redisUrl: string, home: string, extra: string[] = []): Promise<TestFront> {
  const proc = spawn(
    process.execPath,
    [SERIAL_GC_FLAG, MAIN_JS, 'serve', '--port', '0', '--home', home, '--redis', redisUrl, '--log-level', 'warn', ...extra],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '',
    err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`front daemon did not start: ${err}`)), 30_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on ws:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ proc, url: `ws://127.0.0.1:${m[1]}` });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`front daemon exited with ${code}: ${err}`));
    });
  });
}

export async function stopProc(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill(signal);
  // A process that does not leave within 20 s fails the test that stops it (and is killed, so nothing hangs).
  const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
  const code = await waitExit(p);
  clearTimeout(t);
  if (signal !== 'SIGKILL' && p.signalCode === 'SIGKILL') throw new Error(`process ${p.pid} did not exit on ${signal} (code ${code})`);
}
