/**
 * Training options with defaults (one typed object; see ARCHITECTURE.md "Training and scheduling"). The defaults
 * are the measured recipe (server/recipe.ts).
 */
import { finalRateFor, RECIPE } from '../recipe.js';

export interface AugmentOptions {
  /** Random vertical / horizontal flips. */
  flips: boolean;
  /** Random 90-degree rotations (square patches). */
  rot90: boolean;
  /** Random intensity scale in [1/intensityScale, intensityScale]... see sampler.ts; plus a small shift. */
  intensity: boolean;
}

export interface TrainOptions {
  /** Optimizer steps. */
  steps: number;
  batchSize: number;
  /** Square patch side (rounded down to a multiple of 2^unetDepth; shrunk to the images if they are smaller). */
  patchSize: number;
  /** Adam learning rate. */
  learningRate: number;
  /** Learning rate for the last `finalFraction` of a run (by steps or by time limit, whichever is further). */
  lrFinal: number;
  /** Fraction of the run trained at lrFinal (0 = a constant learning rate). */
  finalFraction: number;
  /** Wall-clock limit in seconds (0 = none); training stops after the step that crosses it. */
  timeLimitS: number;
  seed: number;
  augment: AugmentOptions;
  /** Call onCheckpoint every this many steps (0 = never; it is always called at the end). */
  checkpointEvery: number;
  /** Context (pixels) around a patch used when computing its targets (see sampler.ts). */
  targetMargin: number;
  /** Fine-tuning (RECIPE.finetune): the learning rate rises linearly over this many first steps (0 = no warm-up). */
  warmupSteps: number;
  /** Fine-tuning: only the decoder and output layer train for this many first steps (0 = never frozen). */
  freezeEncoderSteps: number;
}

/** Steps of a run limited by time only. */
export const UNBOUNDED_STEPS = 1e7;

export const TRAIN_DEFAULTS: Readonly<TrainOptions> = Object.freeze({
  steps: UNBOUNDED_STEPS,
  batchSize: RECIPE.batchSize,
  patchSize: RECIPE.patchSize,
  learningRate: RECIPE.learningRate,
  lrFinal: RECIPE.lrFinal,
  finalFraction: RECIPE.finalFraction,
  timeLimitS: RECIPE.budgetS,
  seed: 1,
  augment: Object.freeze({ flips: true, rot90: true, intensity: true }),
  checkpointEvery: 0,
  targetMargin: 32,
  warmupSteps: 0,
  freezeEncoderSteps: 0,
});

/** The options that fine-tune a starter model (RECIPE.finetune): lower rates, warm-up, encoder frozen at first. */
export const FINETUNE_OPTIONS: Readonly<Pick<TrainOptions, 'learningRate' | 'lrFinal' | 'warmupSteps' | 'freezeEncoderSteps'>> = Object.freeze({
  learningRate: RECIPE.finetune.learningRate,
  lrFinal: RECIPE.finetune.lrFinal,
  warmupSteps: RECIPE.finetune.warmupSteps,
  freezeEncoderSteps: RECIPE.finetune.freezeEncoderSteps,
});

type NumKey = Exclude<keyof TrainOptions, 'augment'>;
const RULES: Record<NumKey, { int: boolean; min: number; max: number }> = {
  steps: { int: true, min: 1, max: 1e7 },
  batchSize: { int: true, min: 1, max: 256 },
  patchSize: { int: true, min: 8, max: 4096 },
  learningRate: { int: false, min: 1e-7, max: 1 },
  lrFinal: { int: false, min: 1e-7, max: 1 },
  finalFraction: { int: false, min: 0, max: 1 },
  timeLimitS: { int: false, min: 0, max: 1e7 },
  seed: { int: true, min: 0, max: 2 ** 31 - 1 },
  checkpointEvery: { int: true, min: 0, max: 1e7 },
  targetMargin: { int: true, min: 0, max: 1024 },
  warmupSteps: { int: true, min: 0, max: 1e7 },
  freezeEncoderSteps: { int: true, min: 0, max: 1e7 },
};

/** Defaults merged with a partial (unknown JSON) object; throws an Error naming the bad field. */
export function parseTrainOptions(partial: unknown = {}): TrainOptions {
  if (partial === undefined || partial === null) partial = {};
  if (typeof partial !== 'object' || Array.isArray(partial)) throw new Error('train options must be an object');
  const src = partial as Record<string, unknown>;
  const out: TrainOptions = { ...TRAIN_DEFAULTS, augment: { ...TRAIN_DEFAULTS.augment } };
  for (const [k, v] of Object.entries(src)) {
    if (v === undefined) continue;
    if (k === 'augment') {
      if (typeof v === 'boolean') {
        out.augment = { flips: v, rot90: v, intensity: v };
        continue;
      }
      if (typeof v !== 'object' || v === null) throw new Error('train.augment must be a boolean or an object');
      for (const [ak, av] of Object.entries(v)) {
        if (!(ak in out.augment)) throw new Error(`train.augment.${ak} is not an augmentation (known: flips, rot90, intensity)`);
        if (typeof av !== 'boolean') throw new Error(`train.augment.${ak} must be a boolean`);
        out.augment[ak as keyof AugmentOptions] = av;
      }
      continue;
    }
    const rule = RULES[k as NumKey];
    if (!rule) throw new Error(`train.${k} is not a training option (known: ${[...Object.keys(RULES), 'augment'].join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || (rule.int && !Number.isInteger(v)) || v < rule.min || v > rule.max)
      throw new Error(`train.${k} must be ${rule.int ? 'an integer' : 'a number'} in [${rule.min}, ${rule.max}]`);
    out[k as NumKey] = v;
  }
  // A changed learning rate keeps the recipe's drop (x lrFinal / learningRate) unless lrFinal is given too.
  if (src.learningRate !== undefined && src.lrFinal === undefined) out.lrFinal = finalRateFor(out.learningRate);
  // Steps without a time limit run to the last step (as model.train does): the recipe's time budget is only the
  // default of a run given neither, never a silent cut of one given a step count.
  if (src.steps !== undefined && src.timeLimitS === undefined) out.timeLimitS = 0;
  return out;
}
