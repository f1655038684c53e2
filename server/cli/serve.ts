/** `sparsecell serve`: run the daemon until SIGTERM/SIGINT, then shut down gracefully. */
import { resolveConfig, type ServerConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startDaemon } from '../app.js';
import { createModelService } from '../training/service.js';
import type { BackendInfo } from '../sessions/model-service.js';
import { fileURLToPath } from 'node:url';
import { stopWhenSupervisorGoes } from './relaunch.js';

const GiB = 1024 ** 3;
/** The package's folder (dist/server/cli/serve.js is three levels below it): where `npm run native` must run. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');

/** The one line `serve` prints about its tensor backend (and, on wasm, how to get the faster one). */
export function describeBackend(b: BackendInfo, chosen = 'auto', root = PACKAGE_ROOT): string {
  const fallback = b.fallback ? ` (${b.fallback})` : '';
  if (b.name === 'tensorflow') {
    const gpus = (b.devices ?? []).filter((d) => d.type === 'GPU').map((d) => `${d.name}${d.memoryBytes ? `, ${(d.memoryBytes / GiB).toFixed(0)} GiB` : ''}`);
    const where = b.gpu
      ? `training on the GPU${gpus.length ? ` (${gpus.join('; ')})` : ''}`
      : `training on the CPU${gpus.length ? ` although a GPU is present (${gpus.join('; ')}): see README "GPU"` : ''}`;
    const threads = `${b.threads || 'auto'} intra-op / ${b.interOpThreads || 'auto'} inter-op threads`;
    return `backend: tensorflow (libtensorflow), ${where}, ${threads}`;
  }
  if (b.name === 'wasm') {
    if (chosen === 'wasm') return `backend: wasm${b.simd ? ' (SIMD)' : ''}, as chosen by --backend / SPARSECELL_BACKEND`;
    return `backend: wasm${b.simd ? ' (SIMD)' : ''}${fallback}; training is ~4x faster on TensorFlow's native kernels: run \`npm run native\` in ${root} (after \`pip install tensorflow-cpu\` if Python has no TensorFlow)`;
  }
  return `backend: ${b.name}${fallback}`;
}

export async function serve(partial: Partial<ServerConfig>, o: { supervised?: boolean } = {}): Promise<number> {
  const config = resolveConfig(partial);
  const log = createLogger(config.logLevel);
  // A front daemon loads the cluster code (bullmq, ioredis) only when asked: the embedded daemon needs no Redis.
  const cluster = config.redis ? await import('../cluster/front.js') : undefined;
  const redis = config.redis;
  const daemon = await startDaemon(config, log, (sessions) =>
    cluster && redis ? cluster.createClusterModelService(sessions, config, log, { redisUrl: redis }) : createModelService(sessions, config, log),
  );
  // The handlers go in before the "listening" line: a client (or a test) that signals the daemon as soon as it reads
  // that line must find them there, not the default action of SIGTERM.
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    // Once: Ctrl-C in a terminal reaches a supervised daemon twice (from the terminal and from its supervisor).
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, 'shutting down');
      daemon.close().then(resolve, (e) => {
        log.error({ err: e }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (o.supervised) stopWhenSupervisorGoes(() => stop('supervisor gone'));
  });
  process.stdout.write(`sparsecell listening on ws://${config.host}:${daemon.rpc.port} (store ${config.home})\n`);
  if (cluster) process.stdout.write(`cluster front daemon: compute workers take jobs from ${redactUrl(config.redis!)} (sparsecell worker --redis …)\n`);
  // Start the compute workers now rather than on first use, so the person sees which backend trains.
  daemon.models.startCompute?.().then(
    (b) => process.stdout.write(`${describeBackend(b, config.backend)}\n`),
    (e: Error) => process.stdout.write(`backend: not available (${e.message})\n`),
  );
  await stopped;
  log.info('bye');
  return 0;
}

/** A Redis URL without its password (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis';
  }
}
