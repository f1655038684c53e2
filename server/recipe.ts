/**
 * The training recipe: the one set of defaults that the daemon (model.train), `sparsecell train`, the study, the
 * clients (through server.info.recipe) and the quality benchmark all use. The benchmark imports these values
 * instead of keeping its own copy, so what a person runs is what was measured (README "Training recipe").
 *
 * Measured on DSB2018 nuclei (bench/results/quality-*.json): a U-Net of depth 3 with 16 base filters on 8
 * patches of 128 x 128 per step learns faster per second of CPU than the earlier 32-filter / 4 x 256^2 default
 * (0.1 steps/s on one core, accuracy 0.004 after 15 min) and than a depth-4 net; Adam at 1e-3, dropped to 2e-4 for
 * the last 20 % of a run that has an end (steps or a time limit), with Adam's moments kept across the drop.
 *
 * A leaf module (no imports), so models/ and training/ can both read it without breaking the import order.
 */
export const RECIPE = Object.freeze({
  /** U-Net of every family. */
  unetDepth: 3,
  unetFilters: 16,
  /** One training step: batchSize patches of patchSize^2 pixels. */
  batchSize: 8,
  patchSize: 128,
  /** Adam learning rate, then lrFinal for the last finalFraction of a run with an end. */
  learningRate: 1e-3,
  lrFinal: 2e-4,
  finalFraction: 0.2,
  /**
   * model.train / `sparsecell train` without steps or a time limit: train for this many seconds. On the
   * tensorflow backend (one thread) that is ~1,500 steps; on wasm ~200 (README "What a minute of training gives").
   */
  budgetS: 600,
  /** Live mode (continuous, no end, so no drop): small batches keep edit -> refreshed prediction short. */
  live: Object.freeze({ batchSize: 2, patchSize: 128, learningRate: 2e-3 }),
  /**
   * Fine-tuning a starter model (models/, README "Starter models"): used whenever the model being trained began from
   * a starter (daemon, live mode, `sparsecell train --from`, the benchmarks). The masked loss and the normalisation
   * are the pretraining ones (the archive carries its normalisation settings).
   * - model.train / `sparsecell train --from`: the from-scratch rates, no warm-up, nothing frozen. Measured
   *   (`npm run bench -- finetune --policies recipe,gentle`, bench/results/finetune-policy.json): on both shifted
   *   domains a gentler policy (3e-4 then 1e-4, 20 warm-up steps, encoder frozen for 30 steps) adapted more slowly
   *   at every budget; the starter's features need to move, and the budgets a person waits for are short.
   * - live mode (a run with no end, labels arriving while it trains): liveLearningRate with liveWarmupSteps of linear
   *   warm-up and the encoder frozen for liveFreezeEncoderSteps, so the first sparse strokes (a few objects, often on
   *   one image) adjust the heads before they move the pretrained features; measured by the live-from-starter bench.
   */
  finetune: Object.freeze({
    learningRate: 1e-3,
    lrFinal: 2e-4,
    warmupSteps: 0,
    freezeEncoderSteps: 0,
    liveLearningRate: 5e-4,
    liveWarmupSteps: 20,
    liveFreezeEncoderSteps: 30,
  }),
});

/** The recipe as plain JSON for server.info.recipe (protocol TrainRecipe): what clients show as their defaults. */
export function recipeForClients() {
  const { unetDepth, unetFilters, batchSize, patchSize, learningRate, lrFinal, finalFraction, budgetS, live, finetune } = RECIPE;
  return { unetDepth, unetFilters, batchSize, patchSize, learningRate, lrFinal, finalFraction, budgetS, live: { ...live }, finetune: { ...finetune } };
}

/** Step `step` (0-based, counted from the start of a run) of a fine-tuning run: learning-rate factor and encoder freeze. */
export function finetuneStep(o: { warmupSteps: number; freezeEncoderSteps: number }, step: number): { lrFactor: number; freezeEncoder: boolean } {
  return {
    lrFactor: o.warmupSteps > 0 ? Math.min(1, (step + 1) / o.warmupSteps) : 1,
    freezeEncoder: step < o.freezeEncoderSteps,
  };
}

/**
 * lrFinal for a run whose first-phase rate was changed: the recipe's drop (lrFinal / learningRate, x0.2) applied to it,
 * so `learningRate: 3e-3` ends at 6e-4 instead of jumping to the recipe's 2e-4.
 */
export function finalRateFor(learningRate: number, base: { learningRate: number; lrFinal: number } = RECIPE): number {
  return learningRate * (base.lrFinal / base.learningRate);
}

/** The learning rate of a run at a point: lrFinal once the run is past (1 - finalFraction) of its steps or time. */
export function scheduledLearningRate(
  o: { learningRate: number; lrFinal: number; finalFraction: number; steps: number; timeLimitS: number },
  step: number,
  elapsedS: number,
  /** Steps at or above this count as "no step limit" (a time-limited run). */
  unboundedSteps = 1e7,
): number {
  if (o.finalFraction <= 0) return o.learningRate;
  const byStep = o.steps < unboundedSteps ? step / o.steps : 0;
  const byTime = o.timeLimitS > 0 ? elapsedS / o.timeLimitS : 0;
  return Math.max(byStep, byTime) >= 1 - o.finalFraction ? o.lrFinal : o.learningRate;
}
