/**
 * ELEPHANT-like family, tensor half: masked loss and activation (tfjs), plus the ModelFamily object that
 * ties the pure halves together. The network is the shared U-Net with 3 outputs: logits of
 * [background, border, centre].
 *
 * Loss: class-weighted softmax cross-entropy,
 *   sum_pixels w * (-sum_c t_c * log_softmax(pred)_c) / #(w > 0),
 * where w = classWeights[class] on labeled pixels (0 on unlabeled, see targets.ts), i.e. averaged over the
 * labeled pixels (the family interface's convention; PyTorch's weighted NLL divides by sum(w) instead).
 * ELEPHANT's extra centre-Dice and smoothness terms are not used. Unlabeled pixels contribute exactly 0 to
 * the loss and its gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelFamily } from '../model-family.js';
import { maskedMean } from '../cellpose/model.js';
import { parseConfig, type ElephantConfig } from './config.js';
import { postprocess } from './postprocess.js';
import { makeTargets } from './targets.js';

export const OUTPUT_CHANNELS = 3;

/** The masked ELEPHANT loss (see the file header). pred/target [B,H,W,3], weight [B,H,W,1]. */
export function elephantLoss(pred: tf.Tensor4D, target: tf.Tensor4D, weight: tf.Tensor4D, _config: ElephantConfig): tf.Scalar {
  return tf.tidy(() => {
    const ce = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(pred, -1)), -1, true));
    return maskedMean(ce, weight);
  });
}

/** Raw output -> class probabilities (softmax over channels). */
export function elephantActivate(pred: tf.Tensor4D, _config: ElephantConfig): tf.Tensor4D {
  return tf.tidy(() => tf.softmax(pred, -1) as tf.Tensor4D);
}

export const elephantFamily: ModelFamily<ElephantConfig> = {
  name: 'elephant',
  parseConfig,
  outputChannels: () => OUTPUT_CHANNELS,
  makeTargets,
  loss: elephantLoss,
  activate: elephantActivate,
  postprocess,
};

export default elephantFamily;
