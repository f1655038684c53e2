/** Test helpers: an in-process daemon on port 0, or a real child process (for kill -9 tests). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolveConfig, type ServerConfig } from '../../server/config.js';
import { silentLogger } from '../../server/log.js';
import { startDaemon, type Daemon } from '../../server/app.js';
import { createModelService } from '../../server/training/service.js';
import { SparsecellClient, type ConnectOptions } from '../../clients/typescript/src/client.js';
import { SERIAL_GC_FLAG } from '../../server/cli/relaunch.js';

export const DIST_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MAIN_JS = join(DIST_ROOT, 'server', 'main.js');

export function tempHome(prefix = 'sparsecell-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestDaemon {
  daemon: Daemon;
  url: string;
  home: string;
  connect(opts?: ConnectOptions): Promise<SparsecellClient>;
  stop(): Promise<void>;
}

export async function startTestDaemon(overrides: Partial<ServerConfig> = {}): Promise<TestDaemon> {
  const home = overrides.home ?? tempHome();
  // SPARSECELL_BACKEND (as for the CLI) lets `npm test` run the daemon suites on wasm when the native
  // 'tensorflow' backend is also installed (auto would pick it).
  const backend = process.env.SPARSECELL_BACKEND as ServerConfig['backend'] | undefined;
  const config = resolveConfig({ port: 0, home, heartbeatS: 30, ...(backend ? { backend } : {}), ...overrides });
  const daemon = await startDaemon(config, silentLogger, (s) => createModelService(s, config, silentLogger));
  const url = `ws://127.0.0.1:${daemon.rpc.port}`;
  return {
    daemon,
    url,
    home,
    connect: (opts) => SparsecellClient.connect(url, opts),
    async stop() {
      await daemon.close();
      if (!overrides.home) rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface ChildDaemon {
  proc: ChildProcess;
  url: string;
  port: number;
  stderr: () => string;
}

/**
 * Spawn `node --single-threaded-gc dist/server/main.js serve --port 0` and wait for its "listening on" line. With
 * the flag given here, the spawned process is the daemon itself (no supervisor, server/cli/relaunch.ts), so a
 * test's kill -9 hits the daemon; `nodeArgs: []` starts it as a person's `sparsecell serve` does.
 */
export function spawnDaemon(args: string[], env: NodeJS.ProcessEnv = {}, o: { nodeArgs?: string[] } = {}): Promise<ChildDaemon> {
  const proc = spawn(process.execPath, [...(o.nodeArgs ?? [SERIAL_GC_FLAG]), MAIN_JS, 'serve', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '',
    err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`daemon did not start: ${err}`)), 20000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on ws:\/\/([^:]+):(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ proc, port: Number(m[2]), url: `ws://127.0.0.1:${m[2]}`, stderr: () => err });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`daemon exited with ${code}: ${err}`));
    });
  });
}

export function waitExit(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((r) => proc.once('exit', (code) => r(code)));
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Mocha hooks for a describe block: an in-process daemon and one connected client, shut down afterwards. */
export function useDaemon(overrides: Partial<ServerConfig> = {}): { d: TestDaemon; c: SparsecellClient } {
  const ctx = {} as { d: TestDaemon; c: SparsecellClient };
  before(async () => {
    ctx.d = await startTestDaemon(overrides);
    ctx.c = await ctx.d.connect();
  });
  after(async () => {
    await ctx.c.close();
    await ctx.d.stop();
  });
  return ctx;
}
