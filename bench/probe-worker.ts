/**
 * The latency probe of the live bench, on its own thread: every `everyMs` it calls server.info over its own
 * connection and times the answer; with `echoUrl` it also times a round trip to a bare WebSocket echo server (a
 * separate process started by `startEchoServer`), the floor that any server under the same machine load has. On the
 * bench's main thread the probe's answers would wait behind the bench's own work, and the figure would be the
 * bench's event loop, not the daemon's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { SparsecellClient } from '../clients/typescript/src/client.js';

interface ProbeData {
  url: string;
  echoUrl?: string;
  everyMs: number;
}

export interface ProbeResult {
  /** server.info round trips (ms). */
  latenciesMs: number[];
  /** Round trips to the bare echo server (ms), when there was one. */
  echoMs: number[];
}

const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

async function probe(): Promise<void> {
  const { url, echoUrl, everyMs } = workerData as ProbeData;
  const c = await SparsecellClient.connect(url);
  const echo = echoUrl ? new WebSocket(echoUrl) : undefined;
  if (echo) await new Promise((r, j) => echo.once('open', r).once('error', j));
  let stop = false;
  parentPort!.once('message', () => {
    stop = true;
  });
  parentPort!.postMessage({ ready: true });
  const res: ProbeResult = { latenciesMs: [], echoMs: [] };
  const frame = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server.info', params: {} });
  while (!stop) {
    let t = process.hrtime.bigint();
    await c.call('server.info', {});
    res.latenciesMs.push(ms(t));
    if (echo) {
      await new Promise((r) => setTimeout(r, everyMs / 2));
      t = process.hrtime.bigint();
      await new Promise((r) => {
        echo.once('message', r);
        echo.send(frame);
      });
      res.echoMs.push(ms(t));
    }
    await new Promise((r) => setTimeout(r, echo ? everyMs / 2 : everyMs));
  }
  await c.close();
  echo?.close();
  parentPort!.postMessage(res);
}

/** Start a probe thread; `stop()` resolves to the round trips it recorded. */
export async function startProbe(url: string, everyMs = 100, echoUrl?: string): Promise<{ stop(): Promise<ProbeResult> }> {
  const w = new Worker(new URL(import.meta.url), { workerData: { url, echoUrl, everyMs } satisfies ProbeData });
  const failed = new Promise<never>((_, reject) => w.once('error', reject));
  await Promise.race([new Promise((r) => w.once('message', r)), failed]);
  return {
    async stop() {
      const done = new Promise<ProbeResult>((r) => w.once('message', r));
      w.postMessage('stop');
      const result = await Promise.race([done, failed]);
      await w.terminate();
      return result;
    },
  };
}

/** A bare WebSocket echo server in its own Node process (the same `ws` package the daemon uses). */
export async function startEchoServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const wsPath = createRequire(import.meta.url).resolve('ws');
  const code = `const { WebSocketServer } = require(${JSON.stringify(wsPath)});
    const s = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    s.on('connection', (c) => c.on('message', (m) => c.send(m)));
    s.on('listening', () => console.log('port ' + s.address().port));`;
  const proc: ChildProcess = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (c) => reject(new Error(`echo server exited with ${c}`)));
  });
  return {
    url: `ws://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  };
}

if (parentPort && (workerData as ProbeData | undefined)?.url) void probe();
