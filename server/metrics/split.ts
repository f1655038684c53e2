/**
 * The fixed, seeded train / held-out split of a data set (the DSB2018 quality benchmark and the sparse-annotation
 * study share it, so their numbers are comparable). Pure.
 *
 * Rule: sort the image names (code-point order), shuffle them with a Fisher-Yates shuffle driven by Mulberry32
 * seeded with `seed` (for i = n-1 .. 1: j = floor(rand() * (i + 1)), swap a[i], a[j]); the FIRST `holdout`
 * names of the shuffled list are the held-out test set (returned sorted), the rest are the training set, kept
 * in shuffled order so that "the first N training images" is itself a seeded random subset.
 * The rule depends only on the set of names, the seed and holdout (not on the order of the input).
 */
import { rng } from '../imaging/rng.js';

export interface DatasetSplit {
  /** Training names in shuffled order. */
  train: string[];
  /** Held-out names, sorted. */
  test: string[];
}


export function dsbSplit(names: readonly string[], seed = 0, holdout = 50): DatasetSplit {
  if (!Number.isInteger(holdout) || holdout < 0) throw new Error(`holdout must be a non-negative integer (got ${holdout})`);
  const a = [...new Set(names)].sort();
  if (holdout > a.length) throw new Error(`holdout ${holdout} is larger than the data set (${a.length} images)`);
  const rand = rng(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return { test: a.slice(0, holdout).sort(), train: a.slice(holdout) };
}
