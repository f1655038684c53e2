/**
 * The fixed, seeded train / held-out split of a data set (the DSB2018 quality benchmark and the sparse-annotation
 * study share it, so their numbers are comparable). Pure.
 *
 * Rule: sort the image names (code-point order), shuffle them with a Fisher-Yates shuffle driven by Mulberry32
 * seeded with `seed` (for i = n-1 .. 1: j = floor(rand() * (i + 1)), swap a[i], a[j]); the FIRST `holdout`
 * names of the shuffled list are the held-out test set (returned sorted), the rest are the training set, kept
 * in shuffled order so that "the first N training images" is itself a seeded random subset.
 * The rule depends only on the set of names, the seed and holdout (not on the order of the input).
 * `trainValTestSplit` adds the validation part (post-processing thresholds) that the quality benchmark and the
 * study both take from the training part.
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

export interface TrainValTestSplit extends DatasetSplit {
  /** Validation names (dense masks, used to choose thresholds, never trained on). */
  val: string[];
}

/** Validation = the LAST `val` names of a training list (at most all but one, so training keeps a name). */
export function holdOutValidation(train: readonly string[], val: number): { train: string[]; val: string[] } {
  if (!Number.isInteger(val) || val < 0) throw new Error(`val must be a non-negative integer (got ${val})`);
  const n = Math.min(val, Math.max(0, train.length - 1));
  return { train: train.slice(0, train.length - n), val: train.slice(train.length - n) };
}

/** The quality benchmark's and the study's split: dsbSplit's held-out test part, then validation from its training part. */
export function trainValTestSplit(names: readonly string[], seed: number, holdout: number, val: number): TrainValTestSplit {
  const s = dsbSplit(names, seed, holdout);
  return { ...holdOutValidation(s.train, val), test: s.test };
}
