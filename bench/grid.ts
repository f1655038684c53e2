/**
 * StarDist grid 1 vs grid 2 at an EQUAL WALL BUDGET (issue 15 item 6):
 *   npm run bench -- grid [--budget 300] [--rounds 8] [--burst 3] [--images 20] [--backend B] [--no-reference]
 *                         [--limit-train N] [--val 20] [--holdout 50] [--seed 0]
 *
 * 1. Step time, measured robustly on a shared machine: one StarDist-like model per grid (the recipe's network, batch
 *    and patch), warmed up, then `rounds` rounds of short bursts (`burst` steps each, sampling and targets included
 *    as in real training), alternating which grid goes first (ABBA), so that load changes hit both alike. The
 *    median of the per-round ratios grid2 / grid1 is robust to load (both grids are slowed alike). The quiet-machine
 *    step times: grid 1's from the committed families benchmark of this backend (bench/results/families-<backend>.json,
 *    run on a quiet machine with the same recipe) and grid 2's = that x the median ratio; without such a file (or with
 *    --no-reference) each grid's fastest burst (the one least disturbed by other programs).
 * 2. Each grid trains (the quality benchmark's pipeline, bench/quality.ts: the recipe, full labels, DSB2018) for the
 *    number of steps that `budget` seconds buy at its quiet step time, with the learning-rate drop by steps; so the
 *    comparison does not depend on how busy the machine was while training.
 * 3. Both are scored as the quality benchmark does: thresholds chosen on the validation images, accuracy@0.5, F1 and
 *    PQ pooled over the held-out test images.
 * The default grid is not changed here; the JSON says which one scored better.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';
import { RECIPE } from '../server/recipe.js';
import { createModel, disposeModel } from '../server/models/segmentation-model.js';
import { normalizeImage } from '../server/imaging/normalize.js';
import { createSampler, trainStep } from '../server/training/train.js';
import { dsbSplit } from '../server/metrics/split.js';
import { loadDataset, listTiffs, sharedDataDir } from '../server/storage/dataset.js';
import { flag, log } from './helpers.js';
import { RESULTS_DIR } from './run.js';
import { run as quality } from './quality.js';

const GRIDS = [1, 2] as const;

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r1 = (v: number) => Number(v.toFixed(1));

/** Interleaved bursts: ms per step of every burst, per grid, and the per-round ratios. */
async function stepTimes(backendPref: BackendPreference, nImages: number, rounds: number, burst: number) {
  const dsb = sharedDataDir(join(RESULTS_DIR, '..', '..'), 'dsb2018-train');
  if (!dsb) throw new Error('../shared/data/dsb2018-train is missing');
  await initBackend(backendPref);
  const names = dsbSplit(listTiffs(join(dsb, 'images')), 0, 50).train.slice(0, nImages);
  const data = loadDataset(join(dsb, 'images'), join(dsb, 'masks'), 'signed', names);
  const opts = { patchSize: RECIPE.patchSize, batchSize: RECIPE.batchSize, seed: 7 };
  const runs = GRIDS.map((grid) => {
    const model = createModel('stardist', { grid }, { seed: 1 });
    const samples = data.map((d) => ({ image: normalizeImage(d.image, model.normalization), labels: d.labels! }));
    return { grid, model, sampler: createSampler(model, samples, opts), optimizer: tf.train.adam(RECIPE.learningRate), bursts: [] as number[] };
  });
  const burstOf = async (r: (typeof runs)[number], n: number) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await trainStep(r.model, r.optimizer, r.sampler.next());
    return Number(process.hrtime.bigint() - t0) / 1e6 / n;
  };
  for (const r of runs) await burstOf(r, 2); // warm-up (kernel set-up, first allocations)
  const ratios: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const order = k % 2 === 0 ? runs : [...runs].reverse();
    const ms = new Map<number, number>();
    for (const r of order) {
      const v = await burstOf(r, burst);
      r.bursts.push(v);
      ms.set(r.grid, v);
    }
    ratios.push(ms.get(2)! / ms.get(1)!);
    log(`grid: round ${k + 1}/${rounds}: grid 1 ${ms.get(1)!.toFixed(0)} ms/step, grid 2 ${ms.get(2)!.toFixed(0)} ms/step`);
  }
  const perGrid: Record<string, { quietMsPerStep: number; medianMsPerStep: number; burstsMsPerStep: number[] }> = {};
  for (const r of runs) {
    perGrid[r.grid] = { quietMsPerStep: r1(Math.min(...r.bursts)), medianMsPerStep: r1(median(r.bursts)), burstsMsPerStep: r.bursts.map(r1) };
    r.optimizer.dispose();
    disposeModel(r.model);
  }
  return { images: nImages, rounds, burst, batch: opts.batchSize, patch: opts.patchSize, perGrid, medianRatioGrid2ToGrid1: Number(median(ratios).toFixed(3)) };
}

const at05 = (rows: Array<{ thresh: number; accuracy: number; f1: number; panoptic_quality: number }>) => rows.find((r) => Math.abs(r.thresh - 0.5) < 1e-9)!;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const budgetS = flag(args, 'budget', 300),
    rounds = flag(args, 'rounds', 8),
    burst = flag(args, 'burst', 3),
    nImages = flag(args, 'images', 20);
  for (const [k, v] of Object.entries({ budgetS, rounds, burst, nImages }))
    if (!Number.isFinite(v) || v <= 0) throw new Error(`grid: ${k} must be a positive number (got ${v})`);
  const bi = args.indexOf('--backend');
  const backendPref = (bi >= 0 ? args[bi + 1] : 'auto') as BackendPreference;
  // passed on to the quality benchmark as they are
  const pass: string[] = [];
  for (const name of ['limit-train', 'val', 'holdout', 'seed', 'backend']) {
    const i = args.indexOf(`--${name}`);
    if (i >= 0) pass.push(`--${name}`, args[i + 1]);
  }

  const timing = await stepTimes(backendPref, nImages, rounds, burst);
  const backend = (await initBackend(backendPref)).name;
  const quiet: Record<number, number> = { 1: timing.perGrid[1].quietMsPerStep, 2: timing.perGrid[2].quietMsPerStep };
  let quietSource = 'fastest interleaved burst of each grid';
  const ref = join(RESULTS_DIR, `families-${backend}.json`);
  if (!args.includes('--no-reference') && existsSync(ref)) {
    const f = JSON.parse(readFileSync(ref, 'utf8')) as {
      unet?: { depth: number; filters: number };
      batch?: string;
      families?: { stardist?: { msPerStep: number } };
    };
    const same = f.unet?.depth === RECIPE.unetDepth && f.unet?.filters === RECIPE.unetFilters && f.batch === `${timing.batch}x${timing.patch}x${timing.patch}`;
    const ms = f.families?.stardist?.msPerStep;
    if (same && ms) {
      quiet[1] = ms;
      quiet[2] = r1(ms * timing.medianRatioGrid2ToGrid1);
      quietSource = `grid 1: ${ms} ms/step from bench/results/families-${backend}.json (quiet machine, same recipe); grid 2: that x the median interleaved ratio`;
    }
  }
  log(`grid: quiet step times grid 1 ${quiet[1]} ms, grid 2 ${quiet[2]} ms (${quietSource})`);
  const runs: Record<string, Record<string, unknown>> = {};
  for (const grid of GRIDS) {
    const ms = quiet[grid];
    const steps = Math.max(1, Math.round((1000 * budgetS) / ms));
    log(`grid: grid ${grid}: ${budgetS} s at ${ms} ms/step (quiet) = ${steps} steps`);
    const q = (await quality(['--budget', '0', '--steps', String(steps), '--grid', String(grid), ...pass])) as {
      train: { steps: number; seconds: number; msPerStep: number };
      learned: Array<{ thresh: number; accuracy: number; f1: number; panoptic_quality: number }>;
      postprocess: { probThresh?: number; nmsThresh?: number };
      predictSeconds: number;
      split: { nTrain: number; nVal: number; test: string[] };
    };
    const a = at05(q.learned);
    runs[grid] = {
      steps: q.train.steps,
      quietMsPerStep: ms,
      budgetEquivalentS: r1((q.train.steps * ms) / 1000),
      trainWallSeconds: q.train.seconds,
      msPerStepDuringTraining: q.train.msPerStep,
      accuracy05: a.accuracy,
      f1: a.f1,
      pq: a.panoptic_quality,
      probThresh: q.postprocess.probThresh,
      nmsThresh: q.postprocess.nmsThresh,
      predictSecondsTest: q.predictSeconds,
      images: { train: q.split.nTrain, val: q.split.nVal, test: q.split.test.length },
    };
  }
  const d = (k: string) => Number(((runs[2][k] as number) - (runs[1][k] as number)).toFixed(3));
  const better = d('accuracy05') > 0 ? 2 : d('accuracy05') < 0 ? 1 : undefined;
  log(
    `grid: accuracy@0.5 grid 1 ${(runs[1].accuracy05 as number).toFixed(3)} (${runs[1].steps} steps) vs grid 2 ${(runs[2].accuracy05 as number).toFixed(3)} (${runs[2].steps} steps)`,
  );
  return {
    budgetS,
    family: 'stardist',
    timing: { ...timing, quietMsPerStep: quiet, quietSource },
    runs,
    grid2MinusGrid1: { accuracy05: d('accuracy05'), f1: d('f1'), pq: d('pq') },
    betterByAccuracy05: better ?? 'tie',
    note: 'The default grid is not changed by this benchmark. Training steps = budget / quiet step time of each grid (its fastest interleaved burst).',
  };
}
