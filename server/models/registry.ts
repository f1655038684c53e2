/**
 * Family registry: name -> ModelFamily. Add a family by adding one entry to FAMILIES.
 */
import type { FamilyConfigBase, FamilyName, ModelFamily } from './model-family.js';
import { stardistFamily } from './stardist/model.js';
import { cellposeFamily } from './cellpose/model.js';
import { elephantFamily } from './elephant/model.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const FAMILIES: Record<FamilyName, ModelFamily<any>> = {
  stardist: stardistFamily,
  cellpose: cellposeFamily,
  elephant: elephantFamily,
};

export function familyNames(): FamilyName[] {
  return Object.keys(FAMILIES) as FamilyName[];
}

/** The family called `name`; throws a descriptive Error for unknown names. */
export function getFamily<C extends FamilyConfigBase = FamilyConfigBase>(name: string): ModelFamily<C> {
  if (!Object.hasOwn(FAMILIES, name)) throw new Error(`unknown model family '${name}' (known: ${familyNames().join(', ')})`);
  return FAMILIES[name as FamilyName] as ModelFamily<C>;
}
