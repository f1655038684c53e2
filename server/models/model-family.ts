/**
 * The model-family interface (see ARCHITECTURE.md, "Model families").
 *
 * A family is split in two halves:
 *  - a PURE half (targets.ts, postprocess.ts, config.ts): typed arrays in, typed arrays out, no tfjs;
 *  - a TENSOR half (model.ts): the masked loss and the activation of the raw network output, in tfjs.
 * The U-Net backbone (models/unet) is shared: every family is "U-Net with `outputChannels` 1x1 outputs".
 *
 * Unlabeled pixels (label -1) MUST get weight exactly 0 in every channel of `weight`, so that they
 * contribute exactly zero to the loss and to its gradient.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Image2D, Instances, Labels2D } from '../imaging/types.js';

export type FamilyName = 'stardist' | 'cellpose' | 'elephant';

/** Per-pixel training targets and loss weights for one image (or one patch), channels-last. */
export interface TargetMaps {
  height: number;
  width: number;
  /** H*W*targetChannels target values. */
  target: Float32Array;
  targetChannels: number;
  /** H*W*weightChannels non-negative loss weights; 0 wherever the label is -1 (unlabeled). */
  weight: Float32Array;
  weightChannels: number;
}

/** Options for post-processing that a caller may override per prediction. */
export interface PostprocessOptions {
  /** Object probability threshold (family-specific meaning; undefined = family default). */
  probThresh?: number;
  /** NMS IoU threshold for polygon families (undefined = family default). */
  nmsThresh?: number;
  /** Stop once this many objects are kept (best scores first, where the family can); the result says truncated. */
  maxObjects?: number;
}

export interface FamilyConfigBase {
  /** Number of input channels of the images this model takes. */
  inputChannels: number;
  /** U-Net depth (number of 2x down-samplings). */
  unetDepth: number;
  /** Filters of the first U-Net level (doubled at each level). */
  unetFilters: number;
  /** Per-pixel weight multiplier for pixels that come from "correction" label updates (ELEPHANT: 10). */
  correctionWeight: number;
}

/** Everything the training loop, predictor and registry need to know about a family. */
export interface ModelFamily<C extends FamilyConfigBase = FamilyConfigBase> {
  readonly name: FamilyName;
  /** Defaults merged with a partial user config; throws a descriptive Error naming the field on bad values. */
  parseConfig(partial: unknown): C;
  /** Number of raw network output channels. */
  outputChannels(config: C): number;
  /**
   * Output grid (StarDist's `grid`): the network predicts at 1/grid resolution, output pixel (i, j) standing for
   * input pixel (grid*i, grid*j). Absent = 1.
   */
  grid?(config: C): number;
  /**
   * PURE: sparse signed labels (-1/0/k) -> targets and weights. `roi` [y0, x0, y1, x1] says only targets inside it
   * will be used (the sampler computes targets on a crop with context margins); a family may then skip work
   * outside it, but must give the same values inside as without `roi`. With a grid g > 1 only the points
   * (y0 + g*i, x0 + g*j) (the roi's origin, or 0, 0) are used, and a family may compute targets only there.
   */
  makeTargets(labels: Labels2D, config: C, roi?: [number, number, number, number]): TargetMaps;
  /** TENSOR: masked loss, averaged over pixels with non-zero weight. pred is the RAW network output [B,H,W,out]. */
  loss(pred: tf.Tensor4D, target: tf.Tensor4D, weight: tf.Tensor4D, config: C): tf.Scalar;
  /** TENSOR: raw network output -> activated maps (e.g. sigmoid on probabilities) [B,H,W,out]. */
  activate(pred: tf.Tensor4D, config: C): tf.Tensor4D;
  /**
   * PURE: activated maps for one whole image (H*W*out, channels-last) -> instances. With a grid g > 1 the maps are
   * at 1/g resolution and the instances at the image's (maps.fullHeight x maps.fullWidth, default g times the maps).
   */
  postprocess(maps: Image2D, config: C, opts?: PostprocessOptions): Instances;
  /**
   * Optional: postprocess at every point of a threshold grid, equal to one call per point but sharing work
   * (StarDist: one NMS per nmsThresh). Threshold tuning uses it when present.
   */
  postprocessGrid?(maps: Image2D, config: C, grid: PostprocessOptions[]): Instances[];
}
