/**
 * The sparse-annotation study (issue 6): from a DENSE data set, simulate each annotation strategy of a grid
 * (strategies.ts), train one model per strategy with the masked-loss pipeline under an equal time budget, evaluate
 * it on held-out images with the stardist-identical matching, and write the results (JSON, CSV, Markdown, Vega-Lite figures as SVG and PNG).
 *
 * - Split: with no separate test set, the fixed seeded DSB split (metrics/split.ts dsbSplit(names, splitSeed = 0,
 *   holdout = 50)); `limitTrain` takes the first N training names of that split (a seeded random subset).
 * - Budget: every cell trains for budgetS / (number of cells in the grid) seconds (timeLimitS; training stops after
 *   the step that crosses it), so the whole grid's training takes about budgetS.
 * - Resumable: each finished cell is written to <out>/cells/<cell-id>.json (atomically) and skipped next time,
 *   provided the study setup (family, config, data, split, seed, training options) is the same; otherwise an error
 *   asks for another --out. The summary files are rewritten after every cell.
 * The tensor backend must be initialised by the caller.
 */
import { join, resolve } from 'node:path';
import type { Image2D, Labels2D } from '../imaging/types.js';
import { ensureDir, fileExists, listTiffs, loadDataset, readText, writeFileAtomic, type DatasetItem } from '../storage/dataset.js';
import { holdOutValidation, trainValTestSplit } from '../metrics/split.js';
import { matchingDataset } from '../metrics/matching.js';
import { fitModel, postprocessMaps, predictMaps } from '../training/pipeline.js';
import { tuneThresholds } from '../training/thresholds.js';
import { parseTrainOptions, type TrainOptions } from '../training/config.js';
import type { TrainProgress } from '../training/train.js';
import { disposeModel } from '../models/segmentation-model.js';
import { getFamily } from '../models/registry.js';
import { imageSeed, simulateAnnotation, strategyId, studyGrid, totalCost, parseStrategyId, type AnnotationCost, type Strategy } from './strategies.js';
import { writeStudyReport } from './report.js';
import type { CellCost, CellResult, StudyFingerprint, StudySetup } from './types.js';

export type { CellCost, CellResult, StudyFingerprint, StudySetup } from './types.js';

export const IOU_THRESHOLDS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/** Study defaults, sized for the 2-core CPU: the default grid (11 cells) trains 70 min (382 s per cell); evaluation adds ~10-18 min (no-BG models predict many candidates, which makes NMS slow). */
export const STUDY_DEFAULTS = Object.freeze({
  family: 'stardist',
  grid: 'default' as 'default' | 'all',
  budgetS: 2700,
  seed: 1,
  splitSeed: 0,
  holdout: 50,
  /**
   * Validation images (dense masks) taken from the training part and never trained on: each cell's thresholds are
   * chosen on them (StarDist's optimize_thresholds), so a sparse model is not judged at thresholds that only suit
   * dense training. 0 = the family's default thresholds.
   */
  val: 20,
  /**
   * The product's recipe (server/recipe.ts), so a study answers "how much must I annotate" for the model a person
   * actually trains: family defaults (U-Net depth 3 / 16 filters) and the recipe's training options (8 x 128^2,
   * lr 1e-3 then 2e-4). The committed study in bench/results/study-tensorflow used the earlier study-only recipe
   * (depth 2, 64-px patches, lr 2e-3); its results.json records that.
   */
  config: Object.freeze({}) as Readonly<Record<string, unknown>>,
  train: Object.freeze({}) as Readonly<Partial<TrainOptions>>,
});

export interface StudyOptions {
  imagesDir: string;
  masksDir: string;
  /** Separate test set (else the fixed split of imagesDir). */
  testImagesDir?: string;
  testMasksDir?: string;
  outDir: string;
  family?: string;
  grid?: 'default' | 'all';
  /** Explicit strategy ids instead of a grid (e.g. ['full', 'minmax-k4-bg']). */
  cells?: string[];
  /** Total training time in seconds over all cells of the grid. */
  budgetS?: number;
  /** Seeds the random ordering, the scribbles and training (patch sampling). */
  seed?: number;
  splitSeed?: number;
  holdout?: number;
  /** Validation images for per-cell thresholds (default STUDY_DEFAULTS.val; 0 = default thresholds). */
  val?: number;
  limitTrain?: number;
  limitTest?: number;
  /** Family config (merged over STUDY_DEFAULTS.config). */
  config?: Record<string, unknown>;
  /** Training options (merged over STUDY_DEFAULTS.train; steps / timeLimitS are set by the budget unless maxSteps). */
  train?: Partial<TrainOptions>;
  /** Cap on steps per cell (tests, smoke runs); default unlimited (time budget only). */
  maxSteps?: number;
  /** Name of the tensor backend in use (recorded). */
  backend?: string;
  signal?: AbortSignal;
  onEvent?: (e: StudyEvent) => void;
}

export type StudyEvent =
  | { type: 'loaded'; trainImages: number; testImages: number; cells: number; perCellS: number }
  | { type: 'cell-skip'; index: number; total: number; id: string }
  | { type: 'cell-start'; index: number; total: number; id: string; cost: CellCost }
  | { type: 'train'; index: number; total: number; id: string; progress: TrainProgress; elapsedS: number; limitS: number }
  | { type: 'tune'; index: number; total: number; id: string; done: number; of: number }
  | { type: 'eval'; index: number; total: number; id: string; done: number; of: number }
  | { type: 'cell-done'; index: number; total: number; id: string; result: CellResult };

export interface StudyResult {
  outDir: string;
  setup: StudySetup;
  cells: CellResult[];
  skipped: string[];
  files: string[];
}

/** Cell ids of a study (explicit ids or a grid). */
export function studyCells(grid: 'default' | 'all', ids?: string[]): Strategy[] {
  return ids?.length ? ids.map(parseStrategyId) : studyGrid(grid);
}

/** A cheap digest of a list of names (FNV-1a over the joined list). */
function digest(names: string[]): string {
  let h = 0x811c9dc5;
  const s = names.join('\n');
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return `${names.length}:${h.toString(16).padStart(8, '0')}`;
}

function sameFingerprint(a: StudyFingerprint, b: StudyFingerprint): string | undefined {
  for (const k of Object.keys(b) as (keyof StudyFingerprint)[]) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return k;
  return undefined;
}

function loadLabeled(imagesDir: string, masksDir: string, names: string[]): Array<DatasetItem & { labels: Labels2D }> {
  return loadDataset(imagesDir, masksDir, 'signed', names) as Array<DatasetItem & { labels: Labels2D }>;
}

export async function runStudy(opts: StudyOptions): Promise<StudyResult> {
  const family = opts.family ?? STUDY_DEFAULTS.family;
  getFamily(family);
  const grid = opts.grid ?? STUDY_DEFAULTS.grid;
  const budgetS = opts.budgetS ?? STUDY_DEFAULTS.budgetS;
  const seed = opts.seed ?? STUDY_DEFAULTS.seed;
  const emit = opts.onEvent ?? (() => undefined);
  if (!(budgetS > 0)) throw new Error(`budget must be > 0 seconds (got ${budgetS})`);
  const strategies = studyCells(grid, opts.cells);
  const ids = strategies.map(strategyId);
  if (new Set(ids).size !== ids.length) throw new Error('duplicate strategy ids');

  // Data and split.
  const names = listTiffs(opts.imagesDir);
  let trainNames: string[], valNames: string[], testNames: string[], splitRule: string;
  const nVal = opts.val ?? STUDY_DEFAULTS.val;
  const testImagesDir = opts.testImagesDir ?? opts.imagesDir,
    testMasksDir = opts.testMasksDir ?? opts.masksDir;
  if (opts.testImagesDir || opts.testMasksDir) {
    if (!opts.testImagesDir || !opts.testMasksDir) throw new Error('a separate test set needs both test images and test masks');
    ({ train: trainNames, val: valNames } = holdOutValidation(names, nVal));
    testNames = listTiffs(opts.testImagesDir);
    splitRule = 'separate test set';
  } else {
    // the quality benchmark's split: validation = the last `val` names of the training part, never trained on
    const split = trainValTestSplit(
      names,
      opts.splitSeed ?? STUDY_DEFAULTS.splitSeed,
      Math.min(opts.holdout ?? STUDY_DEFAULTS.holdout, Math.max(0, names.length - 1)),
      nVal,
    );
    ({ train: trainNames, val: valNames, test: testNames } = split);
    splitRule = `dsbSplit(seed ${opts.splitSeed ?? STUDY_DEFAULTS.splitSeed}, holdout ${split.test.length})`;
  }
  if (opts.limitTrain !== undefined) trainNames = trainNames.slice(0, opts.limitTrain);
  if (opts.limitTest !== undefined) testNames = testNames.slice(0, opts.limitTest);
  if (trainNames.length === 0) throw new Error('no training images');
  if (testNames.length === 0) throw new Error('no test images');
  const trainData = loadLabeled(opts.imagesDir, opts.masksDir, trainNames);
  const testData = loadLabeled(testImagesDir, testMasksDir, testNames);
  const valData = loadLabeled(opts.imagesDir, opts.masksDir, valNames);
  const channels = trainData[0].image.channels;
  for (const d of [...trainData, ...testData, ...valData])
    if (d.image.channels !== channels) throw new Error(`${d.name}: ${d.image.channels} channels, but ${trainData[0].name} has ${channels}`);

  const config = { ...STUDY_DEFAULTS.config, ...(opts.config ?? {}), inputChannels: channels };
  getFamily(family).parseConfig(config);
  const perCellS = budgetS / strategies.length;
  const trainBase = parseTrainOptions({ ...STUDY_DEFAULTS.train, ...(opts.train ?? {}), seed: opts.train?.seed ?? seed });
  const trainRecord: Record<string, unknown> = { ...trainBase };
  delete trainRecord.steps;
  delete trainRecord.timeLimitS;
  delete trainRecord.checkpointEvery;
  const fingerprint: StudyFingerprint = {
    family,
    config,
    train: trainRecord,
    seed,
    trainSet: `${resolve(opts.imagesDir)}|${resolve(opts.masksDir)}|${digest(trainNames)}`,
    testSet: `${resolve(testImagesDir)}|${resolve(testMasksDir)}|${digest(testNames)}`,
    trainImages: trainNames.length,
    testImages: testNames.length,
    valSet: valNames.length ? digest(valNames) : '',
    maxSteps: opts.maxSteps ?? null,
  };
  const setup: StudySetup = {
    family,
    grid: opts.cells?.length ? 'custom' : grid,
    cells: ids,
    budgetS,
    perCellS,
    seed,
    config,
    train: trainRecord,
    backend: opts.backend,
    trainSet: { images: opts.imagesDir, masks: opts.masksDir, count: trainNames.length },
    testSet: { images: testImagesDir, masks: testMasksDir, count: testNames.length, split: splitRule },
    valSet: {
      count: valNames.length,
      rule: valNames.length ? `last ${valNames.length} images of the training part, dense masks, not trained on` : 'none (family default thresholds)',
    },
  };
  const cellsDir = join(opts.outDir, 'cells');
  ensureDir(cellsDir);
  emit({ type: 'loaded', trainImages: trainData.length, testImages: testData.length, cells: strategies.length, perCellS });

  const results: CellResult[] = [];
  const skipped: string[] = [];
  const collect = (): CellResult[] =>
    ids.flatMap((id) => {
      const f = join(cellsDir, `${id}.json`);
      return fileExists(f) ? [JSON.parse(readText(f)) as CellResult] : [];
    });
  let files: string[] = [];
  for (const [i, strategy] of strategies.entries()) {
    const id = ids[i];
    const file = join(cellsDir, `${id}.json`);
    if (fileExists(file)) {
      const prev = JSON.parse(readText(file)) as CellResult;
      const diff = sameFingerprint(prev.fingerprint ?? ({} as StudyFingerprint), fingerprint);
      if (diff) throw new Error(`${file} was produced by a different study setup (${diff} differs); use another --out folder or delete it`);
      skipped.push(id);
      results.push(prev);
      emit({ type: 'cell-skip', index: i, total: strategies.length, id });
      continue;
    }
    if (opts.signal?.aborted) throw new Error('study aborted');
    const result = await runCell(strategy, id, i, strategies.length);
    writeFileAtomic(file, JSON.stringify(result, null, 2) + '\n');
    results.push(result);
    emit({ type: 'cell-done', index: i, total: strategies.length, id, result });
    files = await writeStudyReport(opts.outDir, setup, collect());
  }
  files = await writeStudyReport(opts.outDir, setup, collect());
  return { outDir: opts.outDir, setup, cells: results, skipped, files };

  async function runCell(strategy: Strategy, id: string, index: number, total: number): Promise<CellResult> {
    const costs: AnnotationCost[] = [];
    const items: Array<{ image: Image2D; labels: Labels2D }> = [];
    for (const d of trainData) {
      const sim = simulateAnnotation(d.image, d.labels, strategy, imageSeed(d.name, seed));
      costs.push(sim.cost);
      items.push({ image: d.image, labels: sim.labels });
    }
    const cost = totalCost(costs);
    emit({ type: 'cell-start', index, total, id, cost });
    const t0 = Date.now();
    const { model, result } = await fitModel(
      items,
      {
        family,
        config,
        train: { ...trainBase, steps: opts.maxSteps ?? 1e7, timeLimitS: perCellS },
      },
      {
        signal: opts.signal,
        onProgress: (progress) => emit({ type: 'train', index, total, id, progress, elapsedS: (Date.now() - t0) / 1000, limitS: perCellS }),
      },
    );
    const trainS = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    const preds: Labels2D[] = [],
      defaultPreds: Labels2D[] = [];
    const tune = valData.length > 0;
    let thresholds: CellResult['evaluation']['thresholds'] = { chosenOn: 'family defaults' };
    try {
      if (tune) {
        const choice = await tuneThresholds(model, valData, {
          signal: opts.signal,
          onImage: (done, of) => emit({ type: 'tune', index, total, id, done, of }),
        });
        thresholds = {
          probThresh: choice.probThresh,
          nmsThresh: choice.nmsThresh,
          chosenOn: `${valData.length} validation images`,
          valAccuracy05: round(choice.accuracy, 4),
        };
      }
      for (const [j, d] of testData.entries()) {
        if (opts.signal?.aborted) throw new Error('study aborted');
        const maps = await predictMaps(model, d.image, { signal: opts.signal });
        preds.push(postprocessMaps(model, maps, { probThresh: thresholds.probThresh, nmsThresh: thresholds.nmsThresh }).labels);
        if (tune) defaultPreds.push(postprocessMaps(model, maps).labels);
        emit({ type: 'eval', index, total, id, done: j + 1, of: testData.length });
      }
    } finally {
      disposeModel(model);
    }
    const gts = testData.map((d) => d.labels);
    const curve = matchingDataset(gts, preds, [...IOU_THRESHOLDS]);
    const at05 = curve.find((c) => c.thresh === 0.5) ?? matchingDataset(gts, preds, 0.5);
    const defaultThresholdsAtIoU05 = tune ? matchingDataset(gts, defaultPreds, 0.5) : undefined;
    return {
      id,
      ordering: strategy.kind === 'full' ? 'full' : strategy.ordering,
      k: strategy.kind === 'full' ? null : strategy.k,
      bg: strategy.kind === 'full' ? 'full' : strategy.bg,
      cost,
      training: {
        steps: result.steps,
        loss: result.loss,
        stoppedBy: result.stoppedBy,
        seconds: round(trainS, 1),
        timeLimitS: round(perCellS, 1),
        images: trainData.length,
      },
      evaluation: { images: testData.length, seconds: round((Date.now() - t1) / 1000, 1), atIoU05: at05, curve, thresholds, defaultThresholdsAtIoU05 },
      fingerprint,
      finishedAt: new Date().toISOString(),
    };
  }
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
