/**
 * Cellpose-like family: configuration, defaults and validation (pure).
 *
 * The network predicts 3 raw channels [flowY, flowX, cellprob-logit]. Flows are trained at
 * `flowScale` times the unit flows of the targets (Cellpose uses 5); `activate` divides them back, so
 * post-processing always sees UNIT-scale flows and a cell PROBABILITY.
 */
import { RECIPE } from '../../recipe.js';
import type { FamilyConfigBase } from '../model-family.js';
import { BASE_CHECKS, anyNum, int, isNum, num, parseFamilyConfig, type Check } from '../config-checks.js';

export interface CellposeConfig extends FamilyConfigBase {
  /** Threshold on the cellprob LOGIT (0 = probability 0.5); pixels above it are followed. */
  cellprobThresh: number;
  /** Masks whose flows disagree with re-computed flows by more than this (mean squared error) are dropped; 0 = keep all. */
  flowThresh: number;
  /** Masks smaller than this many pixels are removed. */
  minSize: number;
  /** Number of Euler steps of flow following. */
  niter: number;
  /** Typical object diameter in pixels: images are scaled by 30 / diameter for training and prediction (training/rescale.ts); undefined = no rescaling. */
  diameter?: number;
  /** Factor applied to unit target flows in the loss (the network learns flowScale * flows). */
  flowScale: number;
}

export const CELLPOSE_DEFAULTS: Readonly<CellposeConfig> = Object.freeze({
  inputChannels: 1,
  unetDepth: RECIPE.unetDepth,
  unetFilters: RECIPE.unetFilters,
  correctionWeight: 10,
  cellprobThresh: 0,
  flowThresh: 0.4,
  minSize: 15,
  niter: 200,
  diameter: undefined,
  flowScale: 5,
});

const CHECKS: Record<keyof CellposeConfig, Check> = {
  ...BASE_CHECKS,
  cellprobThresh: anyNum,
  flowThresh: num(0),
  minSize: int(0),
  niter: int(1),
  diameter: (v) => (v === undefined || (isNum(v) && v > 0) ? undefined : 'must be a number > 0 or undefined'),
  flowScale: num(0, true),
};

/**
 * Defaults merged with a partial config. Throws an Error naming the field on an unknown field or a bad
 * value (e.g. `config.niter must be an integer >= 1 (got 0)`).
 */
export function parseConfig(partial: unknown): CellposeConfig {
  return parseFamilyConfig('Cellpose', CELLPOSE_DEFAULTS, CHECKS, partial);
}

/** The logistic function (cellprob logit -> probability). */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
