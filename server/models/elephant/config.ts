/**
 * ELEPHANT-like family: configuration, defaults and validation (pure).
 *
 * The network predicts 3 raw channels (logits of background / border / centre); `activate` applies a
 * softmax, so post-processing sees class PROBABILITIES [bg, border, centre].
 */
import { RECIPE } from '../../recipe.js';
import type { FamilyConfigBase } from '../model-family.js';
import { BASE_CHECKS, int, isNum, parseFamilyConfig, range, type Check } from '../config-checks.js';

export interface ElephantConfig extends FamilyConfigBase {
  /** Centre region = the object's moment ellipse with both semi-axes scaled by this ratio (ELEPHANT: 0.4). */
  centerRatio: number;
  /**
   * How the loss balances the classes.
   * - 'shares' (default): the loss is sum_c classShares[c] * (mean cross-entropy over the labeled pixels of class c),
   *   over the classes present in the batch. The balance is then the same whether labels are dense or sparse.
   * - 'weights': ELEPHANT's per-pixel classWeights, averaged over labeled pixels. Measured on DSB2018: with dense
   *   labels [1, 10, 10] gives background 37 % of the loss, but with cellsparse minmax k = 4 + BG (background only
   *   in rings copied beside the labeled nuclei, 31 % of labeled pixels instead of 86 %) only 4 %, and the model
   *   learns to call almost everything nucleus (README "Model families").
   */
  balance: 'shares' | 'weights';
  /** Loss share of each class [background, border, centre] with balance 'shares'; default = what [1, 10, 10] gives on dense DSB2018 labels. */
  classShares: [number, number, number];
  /** Loss weight of each class [background, border, centre] with balance 'weights' (ELEPHANT: [1, 10, 10]). */
  classWeights: [number, number, number];
  /** Post-processing: a pixel is a centre seed pixel when its centre probability exceeds this. */
  centerThresh: number;
  /** Post-processing: a pixel may be grown into when border + centre probability exceeds this. */
  foregroundThresh: number;
  /** Post-processing: connected centre regions smaller than this many pixels start no object. */
  minCenterSize: number;
  /** Post-processing: objects smaller than this many pixels are removed. */
  minSize: number;
}

export const ELEPHANT_DEFAULTS: Readonly<ElephantConfig> = Object.freeze({
  inputChannels: 1,
  unetDepth: RECIPE.unetDepth,
  unetFilters: RECIPE.unetFilters,
  correctionWeight: 10,
  centerRatio: 0.4,
  balance: 'shares' as const,
  classShares: [0.37, 0.52, 0.11] as [number, number, number],
  classWeights: [1, 10, 10] as [number, number, number],
  centerThresh: 0.5,
  foregroundThresh: 0.5,
  minCenterSize: 2,
  minSize: 15,
});

const open01 = range(0, 1, true, false);
const threeClasses: Check = (v) =>
  Array.isArray(v) && v.length === 3 && v.every((w) => isNum(w) && w >= 0) && v.some((w) => w > 0)
    ? undefined
    : 'must be 3 non-negative numbers [background, border, centre], not all 0';
const unit = range(0, 1, false, true);

const CHECKS: Record<keyof ElephantConfig, Check> = {
  ...BASE_CHECKS,
  centerRatio: open01,
  balance: (v) => (v === 'shares' || v === 'weights' ? undefined : "must be 'shares' or 'weights'"),
  classShares: threeClasses,
  classWeights: threeClasses,
  centerThresh: unit,
  foregroundThresh: unit,
  minCenterSize: int(1),
  minSize: int(0),
};

/** Defaults merged with a partial config; throws an Error naming the field on an unknown field or a bad value. */
export function parseConfig(partial: unknown): ElephantConfig {
  return parseFamilyConfig('ELEPHANT', ELEPHANT_DEFAULTS, CHECKS, partial);
}
