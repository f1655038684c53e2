/**
 * One config parser for every family: defaults merged with a partial (unknown JSON) config, each field checked
 * by a rule; errors name the field, e.g. "config.nRays must be an integer in [8, 128] (got 3)". Pure.
 */
import type { FamilyConfigBase } from './model-family.js';

/** A field rule: undefined when the value is fine, else the reason ("must be ..."). */
export type Check = (v: unknown) => string | undefined;

export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export const int =
  (min: number, max = Infinity): Check =>
  (v) =>
    isNum(v) && Number.isInteger(v) && v >= min && v <= max ? undefined : `must be an integer ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`}`;

export const num =
  (min: number, strict = false): Check =>
  (v) =>
    isNum(v) && (strict ? v > min : v >= min) ? undefined : `must be a finite number ${strict ? '>' : '>='} ${min}`;

/** A number in an interval; open ends excluded: range(0, 1, true, true) = (0, 1). */
export const range =
  (min: number, max: number, minOpen = false, maxOpen = false): Check =>
  (v) =>
    isNum(v) && (minOpen ? v > min : v >= min) && (maxOpen ? v < max : v <= max)
      ? undefined
      : `must be a number in ${minOpen ? '(' : '['}${min}, ${max}${maxOpen ? ')' : ']'}`;

/** One of a few allowed numbers. */
export const oneOf =
  (allowed: readonly number[]): Check =>
  (v) =>
    allowed.includes(v as number) ? undefined : `must be one of ${allowed.join(', ')}`;

export const anyNum: Check = (v) => (isNum(v) ? undefined : 'must be a finite number');

/** Rules of the fields every family has (FamilyConfigBase). */
export const BASE_CHECKS: Record<keyof FamilyConfigBase, Check> = {
  inputChannels: int(1, 64),
  unetDepth: int(1, 6),
  unetFilters: int(1, 512),
  correctionWeight: range(0, 1e6),
};

/** Keys callers may send along with a config that are not config fields. */
const IGNORED = new Set(['family']);

export function parseFamilyConfig<C extends FamilyConfigBase>(familyLabel: string, defaults: Readonly<C>, checks: Record<keyof C, Check>, partial: unknown): C {
  const out: Record<string, unknown> = structuredClone({ ...defaults }) as Record<string, unknown>;
  if (partial === undefined || partial === null) return out as C;
  if (typeof partial !== 'object' || Array.isArray(partial)) throw new Error('config must be an object');
  for (const [key, value] of Object.entries(partial as Record<string, unknown>)) {
    if (IGNORED.has(key) || value === undefined) continue;
    if (!Object.hasOwn(checks, key)) throw new Error(`config.${key} is not a ${familyLabel} option (known: ${Object.keys(checks).join(', ')})`);
    const err = checks[key as keyof C](value);
    if (err) throw new Error(`config.${key} ${err} (got ${JSON.stringify(value)})`);
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  return out as C;
}
