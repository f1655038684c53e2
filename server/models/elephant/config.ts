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
  /** Loss weight of each class [background, border, centre] (ELEPHANT: [1, 10, 10]). */
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
  classWeights: [1, 10, 10] as [number, number, number],
  centerThresh: 0.5,
  foregroundThresh: 0.5,
  minCenterSize: 2,
  minSize: 15,
});

const open01 = range(0, 1, true, false);
const unit = range(0, 1, false, true);

const CHECKS: Record<keyof ElephantConfig, Check> = {
  ...BASE_CHECKS,
  centerRatio: open01,
  classWeights: (v) =>
    Array.isArray(v) && v.length === 3 && v.every((w) => isNum(w) && w >= 0) && v.some((w) => w > 0)
      ? undefined
      : 'must be 3 non-negative numbers [background, border, centre], not all 0',
  centerThresh: unit,
  foregroundThresh: unit,
  minCenterSize: int(1),
  minSize: int(0),
};

/** Defaults merged with a partial config; throws an Error naming the field on an unknown field or a bad value. */
export function parseConfig(partial: unknown): ElephantConfig {
  return parseFamilyConfig('ELEPHANT', ELEPHANT_DEFAULTS, CHECKS, partial);
}
