/**
 * Pure family-config validation (no tfjs): session.create and model.train check a config here before storing
 * it, so a bad value is refused with its field named instead of breaking the session later.
 */
import type { FamilyName } from './model-family.js';
import { parseConfig as stardist } from './stardist/config.js';
import { parseConfig as cellpose } from './cellpose/config.js';
import { parseConfig as elephant } from './elephant/config.js';
import { unetDivisor } from './unet/config.js';

const PARSERS: Record<FamilyName, (partial: unknown) => unknown> = { stardist, cellpose, elephant };

/** Undefined when fine; else {field, message} (field = the config key the message names, when it names one). */
export function checkFamilyConfig(family: FamilyName, config: unknown): { field?: string; message: string } | undefined {
  try {
    PARSERS[family](config);
    return undefined;
  } catch (e) {
    const message = (e as Error).message;
    return { field: /^config\.([A-Za-z0-9_]+)/.exec(message)?.[1], message };
  }
}

/**
 * Training patch sides and prediction tiles must be multiples of this for a (valid) family config:
 * grid * 2^unetDepth (grid: StarDist's, 1 for the other families).
 */
export function familyDivisor(family: FamilyName, config: unknown): number {
  const c = PARSERS[family](config) as { unetDepth: number; grid?: number };
  return unetDivisor({ depth: c.unetDepth, grid: c.grid ?? 1 });
}
