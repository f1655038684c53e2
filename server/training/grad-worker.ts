/**
 * Worker-thread side of data-parallel training (see parallel.ts): its own tfjs backend (its own wasm
 * instance) and its own copy of the U-Net. Per request it loads the leader's current weights, computes the
 * loss and the gradients of one sub-batch, and posts them back (buffers transferred).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendPreference } from '../tensor/backend.js';
import { getFamily } from '../models/registry.js';
import { createUNet, unetForward, unetVariables } from '../models/unet/unet.js';
import type { UNetConfig } from '../models/unet/config.js';
import type { Batch } from './sampler.js';
import { batchTensors } from './batch-tensors.js';

export interface GradWorkerData {
  backend: BackendPreference;
  family: string;
  familyConfig: unknown;
  unet: UNetConfig;
}

export interface GradRequest {
  id: number;
  weights: Float32Array[];
  batch: Batch;
}

export interface GradReply {
  id: number;
  loss?: number;
  grads?: Float32Array[];
  error?: string;
}

async function main(): Promise<void> {
  const data = workerData as GradWorkerData;
  await initBackend(data.backend);
  const family = getFamily(data.family);
  const config = family.parseConfig(data.familyConfig);
  const unet = createUNet(data.unet);
  const vars = unetVariables(unet);
  parentPort!.on('message', (req: GradRequest) => {
    try {
      tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(req.weights[i], v.shape))));
      const { value, grads } = tf.tidy(() => {
        const { x, target, weight } = batchTensors(req.batch);
        return tf.variableGrads(() => family.loss(unetForward(unet, x), target, weight, config), vars);
      });
      const loss = value.dataSync()[0];
      const out = vars.map((v) => grads[v.name].dataSync().slice() as Float32Array);
      value.dispose();
      tf.dispose(Object.values(grads));
      const reply: GradReply = { id: req.id, loss, grads: out };
      parentPort!.postMessage(reply, out.map((g) => g.buffer as ArrayBuffer));
    } catch (e) {
      const reply: GradReply = { id: req.id, error: e instanceof Error ? e.stack ?? e.message : String(e) };
      parentPort!.postMessage(reply);
    }
  });
  parentPort!.postMessage({ ready: true });
}

main().catch((e) => parentPort!.postMessage({ id: -1, error: e instanceof Error ? e.stack ?? e.message : String(e) }));
