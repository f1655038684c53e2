/** `sparsecell worker --redis URL --home DIR`: a cluster compute worker, until SIGTERM/SIGINT (then it leaves cleanly). */
import type { BackendPreference, TensorFlowThreads } from '../tensor/backend.js';
import { createLogger } from '../log.js';
import { redactUrl } from './serve.js';

export interface WorkerCliOptions {
  redis: string;
  home: string;
  backend?: BackendPreference;
  workerId?: string;
  modelsDir?: string;
  tfThreads?: TensorFlowThreads;
  computeNice?: number;
  logLevel?: string;
  /** Tests: shorter BullMQ lock and stalled-job check, shorter slices. */
  lockMs?: number;
  stalledMs?: number;
  sliceMs?: number;
}

export async function worker(o: WorkerCliOptions): Promise<number> {
  const log = createLogger(o.logLevel ?? 'info');
  const { startComputeNode } = await import('../cluster/compute-node.js');
  const node = await startComputeNode({ ...o, redisUrl: o.redis, log });
  process.stdout.write(`sparsecell worker ${node.workerId} (backend ${node.backend.name}) takes jobs from ${redactUrl(o.redis)}, store ${o.home}\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig, workerId: node.workerId }, 'worker leaving');
      node.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
