/**
 * ELEPHANT-like family: configuration, defaults and validation (pure).
 *
 * The network predicts 3 raw channels (logits of background / border / centre); `activate` applies a
 * softmax, so post-processing sees class PROBABILITIES [bg, border, centre].
 */
import type { FamilyConfigBase } from '../model-family.js';

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
  unetDepth: 3,
  unetFilters: 32,
  correctionWeight: 10,
  centerRatio: 0.4,
  classWeights: [1, 10, 10] as [number, number, number],
  centerThresh: 0.5,
  foregroundThresh: 0.5,
  minCenterSize: 2,
  minSize: 15,
});

type Check = (v: unknown) => string | undefined;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const int = (min: number, max = Infinity): Check => (v) =>
  isNum(v) && Number.isInteger(v) && v >= min && v <= max
    ? undefined
    : `must be an integer ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`}`;
const num = (min: number): Check => (v) => (isNum(v) && v >= min ? undefined : `must be a finite number >= ${min}`);
const open01: Check = (v) => (isNum(v) && v > 0 && v <= 1 ? undefined : 'must be a number in (0, 1]');
const unit: Check = (v) => (isNum(v) && v >= 0 && v < 1 ? undefined : 'must be a number in [0, 1)');

const CHECKS: Record<keyof ElephantConfig, Check> = {
  inputChannels: int(1, 64),
  unetDepth: int(1, 6),
  unetFilters: int(1, 512),
  correctionWeight: num(0),
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

/** Keys callers may pass along with a config that are not config fields. */
const IGNORED = new Set(['family']);

/** Defaults merged with a partial config; throws an Error naming the field on an unknown field or a bad value. */
export function parseConfig(partial: unknown): ElephantConfig {
  const base = { ...ELEPHANT_DEFAULTS, classWeights: [...ELEPHANT_DEFAULTS.classWeights] as [number, number, number] };
  if (partial === undefined || partial === null) return base;
  if (typeof partial !== 'object' || Array.isArray(partial)) throw new Error('config must be an object');
  const out: Record<string, unknown> = base;
  for (const [key, value] of Object.entries(partial as Record<string, unknown>)) {
    if (IGNORED.has(key) || value === undefined) continue;
    if (!Object.prototype.hasOwnProperty.call(CHECKS, key)) throw new Error(`config.${key} is not an ELEPHANT option (known: ${Object.keys(CHECKS).join(', ')})`);
    const err = CHECKS[key as keyof ElephantConfig](value);
    if (err) throw new Error(`config.${key} ${err} (got ${JSON.stringify(value)})`);
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  return out as unknown as ElephantConfig;
}
