/**
 * Cellpose-like family, tensor half: masked loss and activation (tfjs), plus the ModelFamily object that
 * ties the pure halves (config, targets, postprocess) together. The network is the shared U-Net with
 * 3 outputs: [flowY, flowX, cellprob logit].
 *
 * Loss (as Cellpose's train loss, with sparse masks):
 *   flow term     = sum_pixels wFlow * ((pY - s*tY)^2 + (pX - s*tX)^2) / 4 / #(wFlow > 0)
 *                   i.e. Cellpose's MSE over both flow channels divided by 2, restricted to instance pixels,
 *                   with s = flowScale (the network learns flowScale * unit flows);
 *   cellprob term = sum_pixels wProb * BCEWithLogits(pProb, tProb) / #(wProb > 0)
 *                   restricted to labeled pixels (background and instances);
 *   loss = flow term + cellprob term (each term is 0 when its weights are all 0).
 * Pixels with weight 0 (all unlabeled pixels) contribute exactly 0 to the loss and its gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelFamily } from '../model-family.js';
import { parseConfig, type CellposeConfig } from './config.js';
import { postprocess } from './postprocess.js';
import { makeTargets } from './targets.js';

export const OUTPUT_CHANNELS = 3;

/** Numerically stable binary cross-entropy on logits: max(z, 0) - z*t + log(1 + exp(-|z|)). */
export function bceWithLogits(z: tf.Tensor, t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.add(tf.sub(tf.relu(z), tf.mul(z, t)), tf.log1p(tf.exp(tf.neg(tf.abs(z))))));
}

/** sum(w * l) / max(1, #(w > 0)) as a scalar. */
export function maskedMean(l: tf.Tensor, w: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const n = tf.maximum(tf.sum(tf.cast(tf.greater(w, 0), 'float32')), 1);
    return tf.div(tf.sum(tf.mul(l, w)), n) as tf.Scalar;
  });
}

/** The masked Cellpose loss (see the file header). pred/target [B,H,W,3], weight [B,H,W,2]. */
export function cellposeLoss(pred: tf.Tensor4D, target: tf.Tensor4D, weight: tf.Tensor4D, config: CellposeConfig): tf.Scalar {
  return tf.tidy(() => {
    const [b, h, w] = pred.shape;
    const pFlow = tf.slice(pred, [0, 0, 0, 0], [b, h, w, 2]);
    const pProb = tf.slice(pred, [0, 0, 0, 2], [b, h, w, 1]);
    const tFlow = tf.mul(tf.slice(target, [0, 0, 0, 0], [b, h, w, 2]), config.flowScale);
    const tProb = tf.slice(target, [0, 0, 0, 2], [b, h, w, 1]);
    const wFlow = tf.slice(weight, [0, 0, 0, 0], [b, h, w, 1]);
    const wProb = tf.slice(weight, [0, 0, 0, 1], [b, h, w, 1]);
    const se = tf.div(tf.sum(tf.square(tf.sub(pFlow, tFlow)), -1, true), 4);
    const flowTerm = maskedMean(se, wFlow);
    const probTerm = maskedMean(bceWithLogits(pProb, tProb), wProb);
    return tf.add(flowTerm, probTerm) as tf.Scalar;
  });
}

/** Raw output -> [flowY, flowX] / flowScale (unit flows) and sigmoid(cellprob). */
export function cellposeActivate(pred: tf.Tensor4D, config: CellposeConfig): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w] = pred.shape;
    const flows = tf.div(tf.slice(pred, [0, 0, 0, 0], [b, h, w, 2]), config.flowScale);
    const prob = tf.sigmoid(tf.slice(pred, [0, 0, 0, 2], [b, h, w, 1]));
    return tf.concat([flows, prob], 3) as tf.Tensor4D;
  });
}

export const cellposeFamily: ModelFamily<CellposeConfig> = {
  name: 'cellpose',
  parseConfig,
  outputChannels: () => OUTPUT_CHANNELS,
  makeTargets,
  loss: cellposeLoss,
  activate: cellposeActivate,
  postprocess,
};

export default cellposeFamily;
