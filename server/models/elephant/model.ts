/**
 * ELEPHANT-like family, tensor half: masked loss and activation (tfjs), plus the ModelFamily object that
 * ties the pure halves together. The network is the shared U-Net with 3 outputs: logits of
 * [background, border, centre].
 *
 * Loss: softmax cross-entropy ce = -sum_c t_c * log_softmax(pred)_c, class-balanced (config.balance):
 * - 'shares' (default): sum_c s_c * m_c / sum_{c present} s_c, where m_c = sum_p w_p t_pc ce_p / sum_p w_p t_pc is
 *   the mean over the labeled pixels of class c in the batch (w = 1, or the correction weight) and s = classShares:
 *   the same balance for dense and sparse labels;
 * - 'weights': sum_pixels w * ce / #(w > 0) with w = classWeights[class] (ELEPHANT's), averaged over the labeled
 *   pixels (the family interface's convention; PyTorch's weighted NLL divides by sum(w) instead).
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
export function elephantLoss(pred: tf.Tensor4D, target: tf.Tensor4D, weight: tf.Tensor4D, config: ElephantConfig): tf.Scalar {
  return tf.tidy(() => {
    const ce = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(pred, -1)), -1, true));
    if (config.balance !== 'shares') return maskedMean(ce, weight);
    const wt = tf.mul(weight, target); // [B,H,W,3]: the pixel's weight in its class's channel
    const num = tf.sum(tf.mul(wt, ce), [0, 1, 2]);
    const den = tf.sum(wt, [0, 1, 2]);
    const present = tf.cast(tf.greater(den, 0), 'float32');
    const shares = tf.mul(tf.tensor1d(config.classShares), present);
    const means = tf.div(num, tf.maximum(den, 1e-12));
    return tf.div(tf.sum(tf.mul(shares, means)), tf.maximum(tf.sum(shares), 1e-12)) as tf.Scalar;
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
