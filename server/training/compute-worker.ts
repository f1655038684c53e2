/** Main-thread handle of one compute worker thread: request/response with progress and a shared cancel flag. */
import { Worker } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

export class WorkerError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (p: { step?: number; steps?: number; loss?: number; tile?: number; tiles?: number }) => void;
  transfer?: ArrayBuffer[];
}

export class ComputeWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void; onProgress?: CallOptions['onProgress'] }>();
  private dead?: Error;

  constructor(onExit: (e: Error) => void) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url));
    this.worker.on('message', (m: WorkerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if ('progress' in m) {
        p.onProgress?.(m.progress);
        return;
      }
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new WorkerError(m.error, m.code));
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      onExit(e);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (!this.dead) fail(new Error(`compute worker exited with code ${code}`));
    });
  }

  call<T>(req: WorkerRequest, opts: CallOptions = {}): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(cancel, 0, 1);
    if (opts.signal) {
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    const cleanup = () => opts.signal?.removeEventListener('abort', onAbort);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (v) => {
          cleanup();
          resolve(v as T);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
        onProgress: opts.onProgress,
      });
      this.worker.postMessage({ id, cancel, req }, opts.transfer ?? []);
    });
  }

  async terminate(): Promise<void> {
    this.dead = this.dead ?? new Error('worker terminated');
    await this.worker.terminate();
  }
}
