/**
 * Data-parallel gradient helpers: worker threads, each with its own tfjs wasm instance (wasm threads are
 * off in Node, so this is how a step uses more than one core). The leader splits each batch, computes the
 * first part itself while the helpers compute the others, and averages the gradients (equal weights per
 * part: each part's loss is normalised by its own labeled-pixel count, a documented approximation of the
 * whole-batch normalisation).
 */
import { Worker } from 'node:worker_threads';
import type { SegmentationModel } from '../models/segmentation-model.js';
import type { BackendPreference } from '../tensor/backend.js';
import type { Batch } from './sampler.js';
import type { GradReply, GradRequest, GradWorkerData } from './grad-worker.js';

export class GradientWorker {
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: GradReply) => void; reject: (e: Error) => void }>();
  private failure?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: GradReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`gradient worker: ${m.error}`));
      else p.resolve(m);
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => { if (code !== 0) fail(new Error(`gradient worker exited with code ${code}`)); });
  }

  static async start(model: SegmentationModel, backend: BackendPreference = 'wasm'): Promise<GradientWorker> {
    const data: GradWorkerData = { backend, family: model.family.name, familyConfig: model.config, unet: model.unet.config };
    const worker = new Worker(new URL('./grad-worker.js', import.meta.url), { workerData: data });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { ready?: boolean; error?: string }) => {
        worker.off('message', onMsg);
        if (m.ready) resolve(); else reject(new Error(`gradient worker failed to start: ${m.error}`));
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
    });
    return new GradientWorker(worker);
  }

  /** Loss and gradients (in parameter order) of `batch` at `weights`. */
  compute(weights: Float32Array[], batch: Batch): Promise<{ loss: number; grads: Float32Array[] }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const req: GradRequest = { id, weights, batch };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: (r) => resolve({ loss: r.loss!, grads: r.grads! }), reject });
      this.worker.postMessage(req);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}
