/**
 * StarDist-like family configuration: defaults and validation (pure).
 */
import type { FamilyConfigBase } from '../model-family.js';

export interface StarDistConfig extends FamilyConfigBase {
  /** Number of radial directions (rays); ray r points at angle 2*pi*r/nRays (0 = +x, pi/2 = +y). */
  nRays: number;
  /** Object probability threshold for NMS candidates (strictly greater passes, like stardist). */
  probThresh: number;
  /** NMS overlap threshold: intersection / smaller area above this suppresses (stardist's definition). */
  nmsThresh: number;
}

export const STARDIST_DEFAULTS: Readonly<StarDistConfig> = Object.freeze({
  inputChannels: 1,
  unetDepth: 3,
  unetFilters: 32,
  correctionWeight: 10,
  nRays: 32,
  probThresh: 0.5,
  nmsThresh: 0.4,
});

type Rule = { int: boolean; min: number; max: number; minOpen?: boolean; maxOpen?: boolean };

const RULES: Record<keyof StarDistConfig, Rule> = {
  inputChannels: { int: true, min: 1, max: 64 },
  unetDepth: { int: true, min: 1, max: 6 },
  unetFilters: { int: true, min: 1, max: 512 },
  correctionWeight: { int: false, min: 0, max: 1e6 },
  nRays: { int: true, min: 8, max: 128 },
  probThresh: { int: false, min: 0, max: 1, minOpen: true, maxOpen: true },
  nmsThresh: { int: false, min: 0, max: 1 },
};

function describe(r: Rule): string {
  const kind = r.int ? 'an integer' : 'a number';
  return `${kind} in ${r.minOpen ? '(' : '['}${r.min}, ${r.max}${r.maxOpen ? ')' : ']'}`;
}

/**
 * Merge a partial user config (unknown JSON) with the defaults and validate it. Throws an Error whose
 * message names the bad field, e.g. "config.nRays must be an integer in [8, 128]". Unknown fields throw too.
 */
export function parseConfig(partial: unknown): StarDistConfig {
  if (partial === undefined || partial === null) return { ...STARDIST_DEFAULTS };
  if (typeof partial !== 'object' || Array.isArray(partial)) throw new Error('config must be an object');
  const src = partial as Record<string, unknown>;
  const out: StarDistConfig = { ...STARDIST_DEFAULTS };
  for (const key of Object.keys(src)) {
    if (!(key in RULES)) throw new Error(`config.${key} is not a StarDist option (known: ${Object.keys(RULES).join(', ')})`);
    const v = src[key];
    if (v === undefined) continue;
    const rule = RULES[key as keyof StarDistConfig];
    const ok = typeof v === 'number' && Number.isFinite(v) && (!rule.int || Number.isInteger(v)) &&
      (rule.minOpen ? v > rule.min : v >= rule.min) && (rule.maxOpen ? v < rule.max : v <= rule.max);
    if (!ok) throw new Error(`config.${key} must be ${describe(rule)}`);
    out[key as keyof StarDistConfig] = v as number;
  }
  return out;
}
