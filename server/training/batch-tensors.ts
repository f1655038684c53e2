/** Batch (typed arrays) -> tensors, and batch splitting for data-parallel training. Caller owns the tensors. */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './sampler.js';

export function batchTensors(b: Batch): { x: tf.Tensor4D; target: tf.Tensor4D; weight: tf.Tensor4D } {
  return {
    x: tf.tensor4d(b.x, [b.batchSize, b.height, b.width, b.xChannels]),
    target: tf.tensor4d(b.target, [b.batchSize, b.height, b.width, b.targetChannels]),
    weight: tf.tensor4d(b.weight, [b.batchSize, b.height, b.width, b.weightChannels]),
  };
}

/** Split a batch into `parts` consecutive sub-batches (sizes differ by at most 1; copies). */
export function splitBatch(b: Batch, parts: number): Batch[] {
  const n = Math.min(parts, b.batchSize);
  const out: Batch[] = [];
  const px = b.height * b.width;
  let start = 0;
  for (let k = 0; k < n; k++) {
    const size = Math.floor(b.batchSize / n) + (k < b.batchSize % n ? 1 : 0);
    const sl = (a: Float32Array, c: number) => a.slice(start * px * c, (start + size) * px * c);
    out.push({ ...b, batchSize: size, x: sl(b.x, b.xChannels), target: sl(b.target, b.targetChannels), weight: sl(b.weight, b.weightChannels) });
    start += size;
  }
  return out;
}
