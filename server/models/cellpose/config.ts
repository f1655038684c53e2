/**
 * Cellpose-like family: configuration, defaults and validation (pure).
 *
 * The network predicts 3 raw channels [flowY, flowX, cellprob-logit]. Flows are trained at
 * `flowScale` times the unit flows of the targets (Cellpose uses 5); `activate` divides them back, so
 * post-processing always sees UNIT-scale flows and a cell PROBABILITY.
 */
import type { FamilyConfigBase } from '../model-family.js';

export interface CellposeConfig extends FamilyConfigBase {
  /** Threshold on the cellprob LOGIT (0 = probability 0.5); pixels above it are followed. */
  cellprobThresh: number;
  /** Masks whose flows disagree with re-computed flows by more than this (mean squared error) are dropped; 0 = keep all. */
  flowThresh: number;
  /** Masks smaller than this many pixels are removed. */
  minSize: number;
  /** Number of Euler steps of flow following. */
  niter: number;
  /** Typical object diameter in pixels for optional rescaling by the caller; undefined = no rescaling. */
  diameter?: number;
  /** Factor applied to unit target flows in the loss (the network learns flowScale * flows). */
  flowScale: number;
}

export const CELLPOSE_DEFAULTS: Readonly<CellposeConfig> = Object.freeze({
  inputChannels: 1,
  unetDepth: 3,
  unetFilters: 32,
  correctionWeight: 10,
  cellprobThresh: 0,
  flowThresh: 0.4,
  minSize: 15,
  niter: 200,
  diameter: undefined,
  flowScale: 5,
});

type Check = (v: unknown) => string | undefined;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const int = (min: number, max = Infinity): Check => (v) =>
  isNum(v) && Number.isInteger(v) && v >= min && v <= max
    ? undefined
    : `must be an integer ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`}`;
const num = (min: number, strict = false): Check => (v) =>
  isNum(v) && (strict ? v > min : v >= min) ? undefined : `must be a finite number ${strict ? '>' : '>='} ${min}`;
const anyNum: Check = (v) => (isNum(v) ? undefined : 'must be a finite number');

const CHECKS: Record<keyof CellposeConfig, Check> = {
  inputChannels: int(1, 64),
  unetDepth: int(1, 6),
  unetFilters: int(1, 512),
  correctionWeight: num(0),
  cellprobThresh: anyNum,
  flowThresh: num(0),
  minSize: int(0),
  niter: int(1),
  diameter: (v) => (v === undefined || (isNum(v) && v > 0) ? undefined : 'must be a number > 0 or undefined'),
  flowScale: num(0, true),
};

/** Keys callers may pass along with a config that are not config fields. */
const IGNORED = new Set(['family']);

/**
 * Defaults merged with a partial config. Throws an Error naming the field on an unknown field or a bad
 * value (e.g. `cellpose config: niter must be an integer >= 1 (got 0)`).
 */
export function parseConfig(partial: unknown): CellposeConfig {
  if (partial === undefined || partial === null) return { ...CELLPOSE_DEFAULTS };
  if (typeof partial !== 'object' || Array.isArray(partial))
    throw new Error('config must be an object');
  const out: Record<string, unknown> = { ...CELLPOSE_DEFAULTS };
  for (const [key, value] of Object.entries(partial as Record<string, unknown>)) {
    if (IGNORED.has(key) || value === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(CHECKS, key))
      throw new Error(`config.${key} is not a Cellpose option (known: ${Object.keys(CHECKS).join(', ')})`);
    const err = CHECKS[key as keyof CellposeConfig](value);
    if (err) throw new Error(`config.${key} ${err} (got ${JSON.stringify(value)})`);
    out[key] = value;
  }
  return out as unknown as CellposeConfig;
}

/** The logistic function (cellprob logit -> probability). */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
