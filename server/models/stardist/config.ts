/**
 * StarDist-like family configuration: defaults and validation (pure).
 */
import { RECIPE } from '../../recipe.js';
import type { FamilyConfigBase } from '../model-family.js';
import { BASE_CHECKS, int, oneOf, parseFamilyConfig, range, type Check } from '../config-checks.js';

export interface StarDistConfig extends FamilyConfigBase {
  /** Number of radial directions (rays); ray r points at angle 2*pi*r/nRays (0 = +x, pi/2 = +y). */
  nRays: number;
  /** Object probability threshold for NMS candidates (strictly greater passes, like stardist). */
  probThresh: number;
  /** NMS overlap threshold: intersection / smaller area above this suppresses (stardist's definition). */
  nmsThresh: number;
  /**
   * StarDist's grid (1 or 2): probabilities and distances are predicted for every grid-th pixel in y and x
   * (grid 2 = stardist's grid=(2,2)); distances stay in full-resolution pixels. Patch sides and tiles are
   * multiples of grid * 2^unetDepth.
   */
  grid: number;
}

/** Grids the StarDist-like family accepts (each one tested). */
export const STARDIST_GRIDS: readonly number[] = [1, 2];

export const STARDIST_DEFAULTS: Readonly<StarDistConfig> = Object.freeze({
  inputChannels: 1,
  unetDepth: RECIPE.unetDepth,
  unetFilters: RECIPE.unetFilters,
  correctionWeight: 10,
  nRays: 32,
  probThresh: 0.5,
  nmsThresh: 0.4,
  grid: 1,
});

const CHECKS: Record<keyof StarDistConfig, Check> = {
  ...BASE_CHECKS,
  nRays: int(8, 128),
  probThresh: range(0, 1, true, true),
  nmsThresh: range(0, 1),
  grid: oneOf(STARDIST_GRIDS),
};

/**
 * Merge a partial user config (unknown JSON) with the defaults and validate it. Throws an Error whose
 * message names the bad field, e.g. "config.nRays must be an integer in [8, 128]". Unknown fields throw too.
 */
export function parseConfig(partial: unknown): StarDistConfig {
  return parseFamilyConfig('StarDist', STARDIST_DEFAULTS, CHECKS, partial);
}
