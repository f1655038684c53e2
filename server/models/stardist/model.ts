/**
 * StarDist-like family: the tensor half (masked loss, activation) bundled with the pure half
 * (config.ts, targets.ts, postprocess.ts) into one ModelFamily object.
 *
 * Raw output channels: [prob logit, d_1..d_nRays] (distances are a linear output, as in StarDist).
 * Targets: [prob, d_1..d_nRays]; weights: [wProb (1 on labeled pixels), wDist (= prob target on instance pixels)].
 * Loss = sum(wProb * BCE(logit, prob)) / max(sum(wProb), 1)
 *      + DIST_LOSS_WEIGHT * sum(wDist * mean_r |d - d^|) / max(sum(wDist), 1e-6).
 * Every term is multiplied by a weight that is exactly 0 on unlabeled pixels, so those pixels get exactly zero
 * gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelFamily } from '../model-family.js';
import { parseConfig, type StarDistConfig } from './config.js';
import { makeTargets } from './targets.js';
import { postprocess, postprocessGrid } from './postprocess.js';
import { customKernelsActive } from '../../tensor/ops.js';
import { STARDIST_LOSS } from '../../tensor/kernels/index.js';

export type { StarDistConfig } from './config.js';

/** Weight of the distance term (StarDist's train_loss_weights = (1, 0.2)). */
export const DIST_LOSS_WEIGHT = 0.2;

function channels(t: tf.Tensor4D, begin: number, size: number): tf.Tensor4D {
  const [b, h, w] = t.shape;
  return tf.slice(t, [0, 0, 0, begin], [b, h, w, size]);
}

/** Numerically stable BCE with logits: max(z,0) - z*p + log(1 + exp(-|z|)). */
export function bceWithLogits(z: tf.Tensor, p: tf.Tensor): tf.Tensor {
  return tf.add(tf.sub(tf.relu(z), tf.mul(z, p)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
}

function checkShapes(pred: tf.Tensor4D, target: tf.Tensor4D, weight: tf.Tensor4D, n: number): void {
  if (pred.shape[3] !== 1 + n || target.shape[3] !== 1 + n || weight.shape[3] !== 2)
    throw new Error(`stardist loss: channels pred ${pred.shape[3]}, target ${target.shape[3]}, weight ${weight.shape[3]}; expected ${1 + n}, ${1 + n}, 2`);
  for (let i = 0; i < 3; i++)
    if (target.shape[i] !== pred.shape[i] || weight.shape[i] !== pred.shape[i])
      throw new Error(`stardist loss: shapes pred [${pred.shape}], target [${target.shape}], weight [${weight.shape}] differ`);
}

/**
 * The loss. On cpu/wasm it runs as one fused JS kernel (server/tensor/kernels/stardist-loss.ts; gradient
 * only w.r.t. pred, targets and weights are constants); elsewhere as tf ops (starDistLossOps).
 */
export function starDistLoss(pred: tf.Tensor4D, target: tf.Tensor4D, weight: tf.Tensor4D, config: StarDistConfig): tf.Scalar {
  checkShapes(pred, target, weight, config.nRays);
  if (!customKernelsActive()) return starDistLossOps(pred, target, weight, config);
  const f = tf.customGrad(((p: tf.Tensor, save: tf.GradSaveFunc) => {
    const [loss, grad] = tf.engine().runKernel(STARDIST_LOSS, { pred: p, target, weight }, {
      nRays: config.nRays,
      distWeight: DIST_LOSS_WEIGHT,
    } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([grad]);
    return { value: loss, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(saved[0], dy)] };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(pred) as tf.Scalar;
}

/** The same loss written with tf ops (reference; used on backends without the sparsecell kernels). */
export function starDistLossOps(pred: tf.Tensor4D, target: tf.Tensor4D, weight: tf.Tensor4D, config: StarDistConfig): tf.Scalar {
  const n = config.nRays;
  checkShapes(pred, target, weight, n);
  return tf.tidy(() => {
    const wProb = channels(weight, 0, 1);
    const wDist = channels(weight, 1, 1);
    const bce = bceWithLogits(channels(pred, 0, 1), channels(target, 0, 1));
    const probLoss = tf.div(tf.sum(tf.mul(wProb, bce)), tf.maximum(tf.sum(wProb), 1));
    const l1 = tf.mean(tf.abs(tf.sub(channels(target, 1, n), channels(pred, 1, n))), 3, true);
    const distLoss = tf.div(tf.sum(tf.mul(wDist, l1)), tf.maximum(tf.sum(wDist), 1e-6));
    return tf.add(probLoss, tf.mul(distLoss, DIST_LOSS_WEIGHT)) as tf.Scalar;
  });
}

export function starDistActivate(pred: tf.Tensor4D, config: StarDistConfig): tf.Tensor4D {
  return tf.tidy(() => tf.concat([tf.sigmoid(channels(pred, 0, 1)), tf.relu(channels(pred, 1, config.nRays))], 3));
}

export const stardistFamily: ModelFamily<StarDistConfig> = {
  name: 'stardist',
  parseConfig,
  outputChannels: (config) => 1 + config.nRays,
  grid: (config) => config.grid,
  makeTargets: (labels, config, roi) => makeTargets(labels, config, roi),
  loss: starDistLoss,
  activate: starDistActivate,
  postprocess: (maps, config, opts) => postprocess(maps, config, opts),
  postprocessGrid: (maps, config, grid) => postprocessGrid(maps, config, grid),
};
