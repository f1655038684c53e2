/**
 * Quality benchmark (issue 4 "quality", issue 9 per family):
 *   npm run bench -- quality [--family stardist|cellpose|elephant] [--budget SECONDS] [--strategy full|minmax4bg|<study id>]
 *                            [--holdout 50] [--seed 0] [--limit-train N] [--val 20] [--no-tune] [--grid 1|2] [...]
 *
 * Data: ../shared/data/dsb2018-train (index.tsv, images/, masks/). Split: server/metrics/split.ts dsbSplit(names,
 * seed, holdout) -- a seeded permutation; its first `holdout` (50) names are the held-out TEST images; the next
 * `val` (20) names of the training part are a small VALIDATION set used only to choose the post-processing
 * thresholds (StarDist's optimize_thresholds, on a grid); the remaining images (or the first --limit-train of
 * them) are trained on. Test images are never seen before the final scoring.
 *
 * Training: the product's recipe (server/recipe.ts, imported, never copied here): family defaults (U-Net depth 3,
 * 16 filters), 8 patches of 128^2 per step, Adam 1e-3 then 2e-4 for the last 20 % of the budget (one run, Adam
 * state kept). --budget is the training loop's wall clock (default 2700 s = 45 min); --batch / --patch / --lr /
 * --config override the recipe for experiments only (the JSON records what ran); --grid 2 is StarDist's grid (the same as
 * --config '{"grid":2}').
 *
 * Scoring: stardist matching_dataset (counts pooled over the 50 images) at IoU 0.1..0.9 for the learned model and
 * for the classical baseline (server/imaging/classical.ts: Otsu + distance-transform watershed) on the same images.
 * Goal: accuracy@0.5 >= 0.80 (StarDist paper, DSB2018 on a GPU: 0.864); the baseline is ~0.68 on a split like this.
 */
import { parseArgs } from 'node:util';
import { provenance } from './run.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDir, readIndexTsv, loadDataset, sharedDataDir, writeBytes } from '../server/storage/dataset.js';
import { trainValTestSplit } from '../server/metrics/split.js';
import { matchingDataset, type DatasetMatchingStats } from '../server/metrics/matching.js';
import { classicalSegment } from '../server/imaging/classical.js';
import type { Labels2D } from '../server/imaging/types.js';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';
import { familyNames } from '../server/models/registry.js';
import { createModel, disposeModel, serializeModel, type SegmentationModel } from '../server/models/segmentation-model.js';
import { unetMacsPerPixel } from '../server/models/unet/config.js';
import { fitModel, postprocessMaps, predictMaps, type FitInput } from '../server/training/pipeline.js';
import { TRAIN_DEFAULTS, UNBOUNDED_STEPS } from '../server/training/config.js';
import { tuneThresholds, type ThresholdChoice } from '../server/training/thresholds.js';
import type { TrainProgress } from '../server/training/train.js';
import { ProgressBar, formatDuration } from '../server/cli/progress-bar.js';
import { formatMatchingTable } from '../server/cli/evaluate.js';
import { imageSeed, parseStrategyId, simulateAnnotation, strategyId, totalCost, type AnnotationCost, type Strategy } from '../server/study/strategies.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const THRESHOLDS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
export const QUALITY_DEFAULTS = Object.freeze({
  family: 'stardist',
  budgetS: 2700,
  strategy: 'full',
  holdout: 50,
  seed: 0,
  val: 20,
});
const GOAL_ACCURACY = 0.8;

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

function num(v: string | undefined, name: string, fallback: number, int = false): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < 0)
    throw new Error(`--${name} must be a non-negative ${int ? 'integer' : 'number'} (got "${v}")`);
  return n;
}

function strategyFromFlag(s: string): Strategy {
  if (s === 'minmax4bg') return parseStrategyId('minmax-k4-bg');
  return parseStrategyId(s);
}

const at = (rows: DatasetMatchingStats[], t: number) => rows.find((r) => Math.abs(r.thresh - t) < 1e-9)!;
const f3 = (v: number) => v.toFixed(3);

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values: f } = parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: {
      family: { type: 'string' },
      budget: { type: 'string' },
      strategy: { type: 'string' },
      holdout: { type: 'string' },
      seed: { type: 'string' },
      'limit-train': { type: 'string' },
      val: { type: 'string' },
      'no-tune': { type: 'boolean' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      patch: { type: 'string' },
      lr: { type: 'string' },
      config: { type: 'string' },
      grid: { type: 'string' },
      data: { type: 'string' },
      backend: { type: 'string' },
      'save-model': { type: 'string' },
      'eval-steps': { type: 'string' },
    },
  });
  const D = QUALITY_DEFAULTS;
  const family = f.family ?? D.family;
  if (!(familyNames() as string[]).includes(family)) throw new Error(`--family must be one of ${familyNames().join(', ')}`);
  const budgetS = num(f.budget, 'budget', D.budgetS);
  const strategy = strategyFromFlag(f.strategy ?? D.strategy);
  const holdout = num(f.holdout, 'holdout', D.holdout, true);
  const seed = num(f.seed, 'seed', D.seed, true);
  const nVal = num(f.val, 'val', D.val, true);
  const limitTrain = f['limit-train'] !== undefined ? num(f['limit-train'], 'limit-train', 0, true) : undefined;
  const maxSteps = num(f.steps, 'steps', 1e7, true);
  const batch = num(f.batch, 'batch', TRAIN_DEFAULTS.batchSize, true);
  const patch = num(f.patch, 'patch', TRAIN_DEFAULTS.patchSize, true);
  const lr = num(f.lr, 'lr', TRAIN_DEFAULTS.learningRate);
  const config = f.config ? (JSON.parse(f.config) as Record<string, unknown>) : {};
  if (f.grid !== undefined) config.grid = num(f.grid, 'grid', 1, true);
  const tune = !f['no-tune'];
  // --eval-steps 250,500,1000: also score the model on the test images at these steps of the same run (a learning
  // curve; the learning-rate drop happens only near the run's end). Needs a step budget (--steps, --budget 0).
  const evalSteps = (f['eval-steps'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((v) => num(v, 'eval-steps', 0, true));
  const dataDir = f.data ?? sharedDataDir(ROOT, 'dsb2018-train');
  if (!dataDir) throw new Error(`DSB2018 data not found at ${join(ROOT, '..', 'shared', 'data', 'dsb2018-train')} (use --data DIR)`);

  const backend = await initBackend((f.backend ?? 'auto') as BackendPreference);
  err(`quality: backend ${backend.name}${backend.simd ? ' (SIMD)' : ''}, family ${family}, strategy ${strategyId(strategy)}, budget ${budgetS} s\n`);

  // ---- split ----
  const names = readIndexTsv(join(dataDir, 'index.tsv')).map((r) => `${r.name}.tif`);
  const split = trainValTestSplit(names, seed, holdout, nVal);
  const valNames = split.val;
  let trainNames = split.train;
  if (limitTrain !== undefined) trainNames = trainNames.slice(0, limitTrain);
  if (trainNames.length === 0) throw new Error('no training images left');
  err(`quality: ${trainNames.length} training, ${tune ? valNames.length : 0} validation (thresholds), ${split.test.length} held-out test images\n`);

  // ---- training data (with the annotation strategy) ----
  const tLoad = Date.now();
  const trainItems = loadDataset(join(dataDir, 'images'), join(dataDir, 'masks'), 'signed', trainNames);
  const costs: AnnotationCost[] = [];
  const fitItems: FitInput[] = trainItems.map((it) => {
    const sim = simulateAnnotation(it.image, it.labels!, strategy, imageSeed(it.name, seed));
    costs.push(sim.cost);
    return { image: it.image, labels: sim.labels };
  });
  const cost = totalCost(costs);
  err(
    `quality: loaded in ${formatDuration((Date.now() - tLoad) / 1000)}; labeled ${(100 * cost.fractionObjects).toFixed(1)} % of objects, ${(100 * cost.fractionPixels).toFixed(1)} % of pixels\n`,
  );

  // ---- scoring: thresholds on the validation images, then the held-out test images ----
  const valItems = tune && valNames.length > 0 ? loadDataset(join(dataDir, 'images'), join(dataDir, 'masks'), 'signed', valNames) : [];
  const testItems = loadDataset(join(dataDir, 'images'), join(dataDir, 'masks'), 'signed', split.test);
  const gts = testItems.map((t) => t.labels!);
  async function scoreModel(m: SegmentationModel) {
    let probThresh: number | undefined, nmsThresh: number | undefined;
    let grid: ThresholdChoice['grid'] = [],
      atEdge: ThresholdChoice['atEdge'] = [];
    if (valItems.length > 0) {
      const bar = new ProgressBar({ label: 'validate', total: valItems.length, unit: 'images' });
      const choice = await tuneThresholds(
        m,
        valItems.map((v) => ({ image: v.image, labels: v.labels! })),
        { onImage: (done) => bar.update(done) },
      );
      bar.finish(`${valItems.length} images, ${choice.grid.length} threshold settings`);
      ({ probThresh, nmsThresh, grid, atEdge } = choice);
      err(
        `quality: thresholds from ${valNames.length} validation images: probThresh ${probThresh}${nmsThresh !== undefined ? `, nmsThresh ${nmsThresh}` : ''} (val accuracy@0.5 ${f3(choice.accuracy)})${atEdge.length ? `; at the grid's edge: ${atEdge.join(', ')}` : ''}\n`,
      );
    }
    // one image at a time (StarDist maps hold 33 floats per pixel: do not keep them all)
    const testBar = new ProgressBar({ label: 'test', total: testItems.length, unit: 'images' });
    const predLabels: Labels2D[] = [],
      defaultLabels: Labels2D[] = [];
    let predictS = 0,
      postS = 0;
    for (const [i, it] of testItems.entries()) {
      const t0 = Date.now();
      const maps = await predictMaps(m, it.image, { onProgress: ({ done, total }) => testBar.update(i + done / total) });
      const t1 = Date.now();
      predLabels.push(postprocessMaps(m, maps, { probThresh, nmsThresh }).labels);
      predictS += (t1 - t0) / 1000;
      postS += (Date.now() - t1) / 1000;
      if (tune) defaultLabels.push(postprocessMaps(m, maps).labels);
      testBar.update(i + 1);
    }
    testBar.finish(`predicted in ${formatDuration(predictS)}, post-processed in ${formatDuration(postS)}`);
    const learned = matchingDataset(gts, predLabels, THRESHOLDS);
    return {
      probThresh,
      nmsThresh,
      grid,
      atEdge,
      learned,
      predictS,
      postS,
      learnedByImage: matchingDataset(gts, predLabels, 0.5, 'iou', true),
      learnedDefault: tune ? matchingDataset(gts, defaultLabels, 0.5) : at(learned, 0.5),
    };
  }

  // ---- train: the recipe (one run; lrFinal for its last part) ----
  const byTime = budgetS > 0;
  if (!byTime && maxSteps >= UNBOUNDED_STEPS) throw new Error('--budget 0 needs --steps N');
  const bar = byTime
    ? new ProgressBar({ label: 'train', total: Math.max(1, Math.ceil(budgetS)), unit: 's' })
    : new ProgressBar({ label: 'train', total: maxSteps, unit: 'steps' });
  const lossCurve: Array<[number, number]> = [];
  let loopS = 0; // time inside the training loop (excludes normalisation / sampler set-up and checkpoint scoring)
  const fitted = createModel(family, { inputChannels: 1, ...config }); // created here so checkpoints can score it
  let scoringS = 0;
  const tTrain = Date.now();
  const learningCurve: Array<{ step: number; seconds: number; accuracy05: number; f1: number; pq: number; probThresh?: number; nmsThresh?: number }> = [];
  const every = evalSteps.length
    ? evalSteps.reduce((g, v) => {
        let a = g,
          b = v;
        while (b) [a, b] = [b, a % b];
        return a;
      })
    : 0;
  const trainOptions = {
    steps: Math.min(maxSteps, UNBOUNDED_STEPS),
    timeLimitS: budgetS,
    batchSize: batch,
    patchSize: patch,
    learningRate: lr,
    seed: 1,
    checkpointEvery: every,
  };
  const r = await fitModel(
    fitItems,
    { family, model: fitted, train: trainOptions },
    {
      onCheckpoint: async (step: number) => {
        if (!evalSteps.includes(step)) return;
        const seconds = Number(loopS.toFixed(1));
        const tScore = Date.now();
        const sc = await scoreModel(fitted);
        scoringS += (Date.now() - tScore) / 1000;
        const a = at(sc.learned, 0.5);
        learningCurve.push({ step, seconds, accuracy05: a.accuracy, f1: a.f1, pq: a.panoptic_quality, probThresh: sc.probThresh, nmsThresh: sc.nmsThresh });
        err(`quality: step ${step} (${seconds} s of training): accuracy@0.5 ${f3(a.accuracy)}, F1 ${f3(a.f1)}, PQ ${f3(a.panoptic_quality)}\n`);
      },
      onProgress: (p: TrainProgress) => {
        loopS = p.step / p.stepsPerS - scoringS;
        if (p.step % 10 === 0) lossCurve.push([p.step, Number(p.smoothedLoss.toPrecision(5))]);
        const el = (Date.now() - tTrain) / 1000;
        const fields = { loss: p.smoothedLoss, 'steps/s': p.step / Math.max(1e-3, el - scoringS) };
        if (byTime) bar.update(Math.min(el, bar.total), { step: p.step, ...fields, ETA: formatDuration(budgetS - el) });
        else bar.update(p.step, fields);
      },
    },
  );
  const model: SegmentationModel = r.model;
  const stepsDone = r.result.steps,
    lastLoss = r.result.loss,
    stoppedBy = r.result.stoppedBy;
  const trainS = (Date.now() - tTrain) / 1000 - scoringS;
  bar.finish(`${stepsDone} steps in ${formatDuration(trainS)}, loss ${lastLoss.toPrecision(4)}`);
  fitItems.length = 0;
  trainItems.length = 0;
  const m = model;
  const msPerStep = (1000 * loopS) / Math.max(1, stepsDone);
  const macs = unetMacsPerPixel(m.unet.config);
  const gflops = (6 * macs * batch * patch * patch) / (msPerStep / 1000) / 1e9; // forward 2*macs, backward ~2x forward

  const { probThresh, nmsThresh, grid, learned, learnedByImage, learnedDefault, predictS, postS } = await scoreModel(m);
  const tClassical = Date.now();
  const classical = matchingDataset(
    gts,
    testItems.map((t) => classicalSegment(t.image)),
    THRESHOLDS,
  );
  const classicalS = (Date.now() - tClassical) / 1000;

  // ---- report ----
  const L = at(learned, 0.5),
    C = at(classical, 0.5);
  out(
    `\nquality: ${family} (${strategyId(strategy)}), ${trainNames.length} training images, ${stepsDone} steps in ${formatDuration(trainS)} ` +
      `(${msPerStep.toFixed(0)} ms/step, ~${gflops.toFixed(1)} GFLOP/s), ${split.test.length} held-out images (dsbSplit seed ${seed})\n\n`,
  );
  out(`learned model (${family}) -- stardist matching_dataset:\n${formatMatchingTable(learned)}\n`);
  out(`classical baseline (Otsu + watershed):\n${formatMatchingTable(classical)}\n`);
  out(`IoU 0.5            accuracy     f1     pq  precision  recall\n`);
  out(
    `learned            ${f3(L.accuracy).padStart(8)}  ${f3(L.f1)}  ${f3(L.panoptic_quality)}  ${f3(L.precision).padStart(9)}  ${f3(L.recall).padStart(6)}\n`,
  );
  out(
    `classical          ${f3(C.accuracy).padStart(8)}  ${f3(C.f1)}  ${f3(C.panoptic_quality)}  ${f3(C.precision).padStart(9)}  ${f3(C.recall).padStart(6)}\n`,
  );
  out(
    `goal               ${('>= ' + GOAL_ACCURACY.toFixed(2)).padStart(8)}   (learned margin over the baseline ${(L.accuracy - C.accuracy >= 0 ? '+' : '') + f3(L.accuracy - C.accuracy)})\n`,
  );
  out(`verdict: ${L.accuracy >= GOAL_ACCURACY ? 'GOAL MET' : 'below goal'}; ${L.accuracy > C.accuracy ? 'beats' : 'does NOT beat'} the classical baseline\n`);

  const result = {
    family,
    strategy: strategyId(strategy),
    backend,
    split: {
      rule: 'server/metrics/split.ts dsbSplit(names, seed, holdout); validation = last `val` names of the training part',
      seed,
      holdout,
      nTrain: trainNames.length,
      nVal: tune ? valNames.length : 0,
      test: split.test,
    },
    annotation: cost,
    train: {
      budgetS,
      seconds: Number(trainS.toFixed(1)),
      loopSeconds: Number(loopS.toFixed(1)),
      steps: stepsDone,
      msPerStep: Number(msPerStep.toFixed(1)),
      effectiveGflops: Number(gflops.toFixed(2)),
      loss: lastLoss,
      stoppedBy,
      config,
      batch,
      patch,
      learningCurve,
      learningRate: lr,
      lrFinal: TRAIN_DEFAULTS.lrFinal,
      finalFraction: TRAIN_DEFAULTS.finalFraction,
      lossCurve,
    },
    postprocess: { probThresh, nmsThresh, grid, seconds: Number(postS.toFixed(1)) },
    predictSeconds: Number(predictS.toFixed(1)),
    learned,
    learnedByImageAccuracy05: learnedByImage.accuracy,
    learnedDefaultThresholds05: learnedDefault,
    classical,
    classicalSeconds: Number(classicalS.toFixed(1)),
    goal: { accuracy05: GOAL_ACCURACY, met: L.accuracy >= GOAL_ACCURACY, beatsBaseline: L.accuracy > C.accuracy },
  };
  // bench/run.ts writes quality.json (the latest run); keep one file per family and strategy too, for the
  // side-by-side table of issue 9.
  // --save-model: the trained model (export archive) with its chosen thresholds and test scores in meta
  // (npm run pretrain writes the starter models this way).
  if (f['save-model']) {
    m.meta = {
      ...m.meta,
      thresholds: { probThresh, nmsThresh, chosenOn: `${tune ? valNames.length : 0} validation images` },
      training: {
        data: 'dsb2018-train',
        split: result.split.rule,
        splitSeed: seed,
        nTrain: trainNames.length,
        steps: stepsDone,
        seconds: result.train.seconds,
        backend: backend.name,
        strategy: strategyId(strategy),
        date: new Date().toISOString(),
      },
      scores: { test: split.test.length, accuracy05: L.accuracy, f1: L.f1, pq: L.panoptic_quality },
    };
    writeBytes(f['save-model'], serializeModel(m));
    out(`wrote ${f['save-model']}\n`);
  }
  disposeModel(m);
  const resultsDir = join(ROOT, 'bench', 'results');
  ensureDir(resultsDir);
  const tag = `${!byTime ? `-${stepsDone}steps` : budgetS !== D.budgetS ? `-${budgetS}s` : ''}${limitTrain !== undefined ? `-train${limitTrain}` : ''}-${backend.name}`;
  const cfgTag = Object.entries(config)
    .map(([k, v]) => `-${k}-${String(v)}`)
    .join('')
    .replace(/[^A-Za-z0-9.-]/g, '');
  const copy = join(resultsDir, `quality-${family}-${strategyId(strategy)}${cfgTag}${tag}.json`);
  writeBytes(copy, JSON.stringify({ ...provenance('quality', args), ...result }, null, 2) + '\n');
  out(`wrote ${copy}\n`);
  return result;
}
