/** Batch (typed arrays) -> tensors. Caller owns the tensors. */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './sampler.js';

export function batchTensors(b: Batch): { x: tf.Tensor4D; target: tf.Tensor4D; weight: tf.Tensor4D } {
  const g = b.grid ?? 1;
  const th = b.height / g,
    tw = b.width / g;
  return {
    x: tf.tensor4d(b.x, [b.batchSize, b.height, b.width, b.xChannels]),
    target: tf.tensor4d(b.target, [b.batchSize, th, tw, b.targetChannels]),
    weight: tf.tensor4d(b.weight, [b.batchSize, th, tw, b.weightChannels]),
  };
}
