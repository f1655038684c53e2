/** Batch (typed arrays) -> tensors. Caller owns the tensors. */
import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './sampler.js';

export function batchTensors(b: Batch): { x: tf.Tensor4D; target: tf.Tensor4D; weight: tf.Tensor4D } {
  return {
    x: tf.tensor4d(b.x, [b.batchSize, b.height, b.width, b.xChannels]),
    target: tf.tensor4d(b.target, [b.batchSize, b.height, b.width, b.targetChannels]),
    weight: tf.tensor4d(b.weight, [b.batchSize, b.height, b.width, b.weightChannels]),
  };
}
