/**
 * The `suggested` ordering (issue 18): does labeling what model.suggest points at teach the model more than minmax
 * or random, at equal object counts and equal training steps?
 *
 * A simulated annotator starts from minmax k = startK with background (`bg`), trains stepsPerRound steps, asks for
 * suggestions on every training image (training/suggest.ts, the daemon's code), and labels what they point at from
 * the dense masks: an object suggestion labels the unlabeled true object it overlaps most (with cellsparse's
 * background copy, as `bg` does), or, when it covers no true object (a false positive), its background pixels; an
 * area suggestion labels the unlabeled true objects it overlaps, or its background. Suggestions are taken best
 * score first over all images until the round's share of new objects is reached; if they run out, random unlabeled
 * objects fill the rest (counted in `fallbackObjects`). Rounds alternate labeling and training (the model keeps its
 * weights; each round's training has the recipe's own learning-rate drop) until the object count of minmax k = K is
 * reached, for every K of `ks`; after the last round of each K the model is evaluated (`suggested-rounds`: what a
 * person in live mode would have). Training in rounds restarts Adam and the learning-rate drop every round, which a
 * single run does not, so the comparison of orderings uses `suggested`: a model trained from scratch on the labels
 * the suggestions led to, for the same total number of steps and with the same seed as minmax and random with
 * background (which also train from scratch). Only the labels differ between `suggested`, minmax and random.
 * Everything is repeated for each seed (training seed, random ordering); the report gives mean and spread.
 * The tensor backend must be initialised by the caller.
 */
import { join, resolve } from 'node:path';
import type { Image2D, Labels2D } from '../imaging/types.js';
import { rng } from '../imaging/rng.js';
import { normalizeImage } from '../imaging/normalize.js';
import { rasterizePolygon } from '../imaging/polygon.js';
import type { SuggestReason } from '../imaging/suggest.js';
import { ensureDir, listTiffs, loadDataset, writeFileAtomic, type DatasetItem } from '../storage/dataset.js';
import { trainValTestSplit } from '../metrics/split.js';
import { matchingDataset, type MatchingStats } from '../metrics/matching.js';
import { fitModel, postprocessMaps, predictMaps } from '../training/pipeline.js';
import { tuneThresholds } from '../training/thresholds.js';
import { parseTrainOptions, type TrainOptions } from '../training/config.js';
import { suggestOnPlane } from '../training/suggest.js';
import { disposeModel, type SegmentationModel } from '../models/segmentation-model.js';
import { getFamily } from '../models/registry.js';
import { FIGURE_CONFIG, renderFigure, VEGA_LITE_SCHEMA, type TopLevelSpec } from '../plot/vega.js';
import { applyOffsetBackground, imageSeed, objectStats, selectObjects, simulateAnnotation } from './strategies.js';

/**
 * The pixels (flat indices) a simulated person looks at for a suggestion: inside an object's polygon, else its
 * bounding region.
 */
export function suggestionPixels(
  s: { kind: string; region: readonly [number, number, number, number] | number[]; polygon?: Array<[number, number]> },
  height: number,
  width: number,
): number[] {
  if (s.kind === 'object' && s.polygon) return Array.from(rasterizePolygon(s.polygon, height, width));
  const out: number[] = [];
  for (let y = s.region[0]; y < s.region[2]; y++) for (let x = s.region[1]; x < s.region[3]; x++) out.push(y * width + x);
  return out;
}

export const SUGGEST_STUDY_DEFAULTS = Object.freeze({
  family: 'stardist',
  seeds: [1, 2, 3] as readonly number[],
  startK: 1,
  ks: [4, 16] as readonly number[],
  stepsPerRound: 100,
  roundsPerK: 2,
  /** Suggestions asked per image and round. */
  perImage: 8,
  tta: 1,
  holdout: 50,
  splitSeed: 0,
  val: 0,
});

export interface SuggestStudyOptions {
  imagesDir: string;
  masksDir: string;
  outDir: string;
  family?: string;
  seeds?: readonly number[];
  startK?: number;
  ks?: readonly number[];
  stepsPerRound?: number;
  roundsPerK?: number;
  perImage?: number;
  tta?: number;
  reasons?: readonly SuggestReason[];
  holdout?: number;
  splitSeed?: number;
  /** Validation images choosing each model's thresholds (0 = the family's defaults). */
  val?: number;
  limitTrain?: number;
  limitTest?: number;
  config?: Record<string, unknown>;
  train?: Partial<TrainOptions>;
  backend?: string;
  signal?: AbortSignal;
  onEvent?: (e: { type: string; seed: number; ordering: string; k: number; message: string }) => void;
}

export interface SuggestRun {
  seed: number;
  ordering: 'suggested' | 'suggested-rounds' | 'minmax' | 'random';
  k: number;
  objects: number;
  steps: number;
  trainS: number;
  atIoU05: MatchingStats;
  /** suggested and suggested-rounds: objects added per reason, by false-positive or area background, and by the random fallback. */
  added?: { byReason: Record<string, number>; backgroundOnly: number; fallbackObjects: number; rounds: number; suggestS: number };
}

export interface SuggestSummaryRow {
  ordering: string;
  k: number;
  objects: { mean: number; min: number; max: number };
  steps: number;
  f1: { mean: number; sd: number; min: number; max: number; n: number };
  accuracy: { mean: number; sd: number };
}

type Item = DatasetItem & { labels: Labels2D };

/** Report order: the fair comparison first (`suggested` trains from scratch like the baselines), the in-rounds model last. */
export const ORDERINGS = ['suggested', 'minmax', 'random', 'suggested-rounds'] as const;

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

function summary(values: number[]): { mean: number; sd: number; min: number; max: number; n: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean: round4(mean), sd: round4(sd), min: round4(Math.min(...values)), max: round4(Math.max(...values)), n };
}

/** Rebuild an image's sparse labels: kept objects, their background copy (`bg`), and extra background pixels. */
function annotate(dense: Labels2D, kept: Set<number>, extraBg: Uint8Array): Labels2D {
  const data = new Int32Array(dense.data.length).fill(-1);
  for (let i = 0; i < data.length; i++) if (kept.has(dense.data[i])) data[i] = dense.data[i];
  const out = { height: dense.height, width: dense.width, data };
  applyOffsetBackground(out, dense);
  for (let i = 0; i < data.length; i++) if (extraBg[i] && dense.data[i] === 0) data[i] = 0;
  return out;
}

export async function runSuggestStudy(opts: SuggestStudyOptions): Promise<Record<string, unknown>> {
  const d = SUGGEST_STUDY_DEFAULTS;
  const family = opts.family ?? d.family;
  getFamily(family);
  const seeds = opts.seeds ?? d.seeds;
  const ks = [...(opts.ks ?? d.ks)].sort((a, b) => a - b);
  const startK = opts.startK ?? d.startK;
  const stepsPerRound = opts.stepsPerRound ?? d.stepsPerRound;
  const roundsPerK = opts.roundsPerK ?? d.roundsPerK;
  const perImage = opts.perImage ?? d.perImage;
  const emit = opts.onEvent ?? (() => undefined);
  const names = listTiffs(opts.imagesDir);
  const nVal = opts.val ?? d.val;
  const split = trainValTestSplit(names, opts.splitSeed ?? d.splitSeed, Math.min(opts.holdout ?? d.holdout, Math.max(0, names.length - 1)), nVal);
  const trainNames = opts.limitTrain !== undefined ? split.train.slice(0, opts.limitTrain) : split.train;
  const testNames = opts.limitTest !== undefined ? split.test.slice(0, opts.limitTest) : split.test;
  if (!trainNames.length || !testNames.length) throw new Error('no training or no test images');
  const load = (n: string[]) => loadDataset(opts.imagesDir, opts.masksDir, 'signed', n) as Item[];
  const trainData = load(trainNames),
    testData = load(testNames),
    valData = load(split.val);
  const config = { ...(opts.config ?? {}), inputChannels: trainData[0].image.channels };
  getFamily(family).parseConfig(config);
  const trainBase = parseTrainOptions({ ...(opts.train ?? {}) });
  const statsOf = trainData.map((it) => objectStats(it.labels, it.image));
  const countFor = (k: number) => trainData.reduce((a, it, i) => a + selectObjects(statsOf[i], 'minmax', k).length, 0);
  const targets = ks.map((k) => ({ k, objects: countFor(k), steps: stepsPerRound * (1 + roundsPerK * (ks.indexOf(k) + 1)) }));
  const runs: SuggestRun[] = [];

  async function fit(items: Array<{ image: Image2D; labels: Labels2D }>, steps: number, seed: number, model?: SegmentationModel) {
    const r = await fitModel(items, { family, config, model, train: { ...trainBase, seed, steps, timeLimitS: 0 } }, { signal: opts.signal });
    return r.model;
  }

  async function evaluate(model: SegmentationModel): Promise<MatchingStats> {
    let th: { probThresh?: number; nmsThresh?: number } = {};
    if (valData.length) th = await tuneThresholds(model, valData, { signal: opts.signal });
    const preds: Labels2D[] = [];
    for (const it of testData) preds.push(postprocessMaps(model, await predictMaps(model, it.image, { signal: opts.signal }), th).labels);
    return matchingDataset(
      testData.map((t) => t.labels),
      preds,
      0.5,
    );
  }

  /** The report so far (written after every run, so an interrupted comparison keeps what it finished). */
  function report(partial: boolean) {
    const rows: SuggestSummaryRow[] = [];
    for (const ordering of ORDERINGS)
      for (const t of targets) {
        const rs = runs.filter((r) => r.ordering === ordering && r.k === t.k);
        if (!rs.length) continue;
        const o = summary(rs.map((r) => r.objects));
        rows.push({
          ordering,
          k: t.k,
          objects: { mean: o.mean, min: o.min, max: o.max },
          steps: t.steps,
          f1: summary(rs.map((r) => r.atIoU05.f1)),
          accuracy: (({ mean, sd }) => ({ mean, sd }))(summary(rs.map((r) => r.atIoU05.accuracy))),
        });
      }
    const verdict = targets.flatMap((t) => {
      const s = rows.find((r) => r.ordering === 'suggested' && r.k === t.k);
      const m = rows.find((r) => r.ordering === 'minmax' && r.k === t.k);
      if (!s || !m) return [];
      const diff = round4(s.f1.mean - m.f1.mean);
      const spread = round4(Math.max(s.f1.sd, m.f1.sd));
      const rr = rows.find((r) => r.ordering === 'suggested-rounds' && r.k === t.k);
      return [
        { k: t.k, f1Difference: diff, spread, beatsMinmaxBeyondSpread: diff > spread, ...(rr ? { roundsF1Difference: round4(rr.f1.mean - m.f1.mean) } : {}) },
      ];
    });
    const result = {
      setup: {
        family,
        config,
        train: { ...trainBase, steps: undefined, timeLimitS: undefined },
        seeds,
        startK,
        startObjects: countFor(startK),
        targets,
        stepsPerRound,
        roundsPerK,
        perImage,
        tta: opts.tta ?? d.tta,
        reasons: opts.reasons ?? 'all',
        backend: opts.backend,
        trainSet: { images: resolve(opts.imagesDir), count: trainNames.length },
        testSet: { count: testNames.length, split: `trainValTestSplit(seed ${opts.splitSeed ?? d.splitSeed}, holdout ${split.test.length})` },
        thresholds: valData.length ? `chosen on ${valData.length} validation images` : 'family defaults',
        spread: 'sd = sample standard deviation over seeds',
      },
      summary: rows,
      verdict,
      runs,
      ...(partial ? { partial: `${runs.length} of ${seeds.length * ORDERINGS.length * targets.length} runs done` } : {}),
    };
    ensureDir(opts.outDir);
    writeFileAtomic(join(opts.outDir, 'suggest-study.json'), JSON.stringify(result, null, 2) + '\n');
    return result;
  }

  for (const seed of seeds) {
    // --- suggested: rounds of train -> suggest -> label, evaluated at each K's object count
    const kept = trainData.map((it, i) => new Set(selectObjects(statsOf[i], 'minmax', startK)));
    const extraBg = trainData.map((it) => new Uint8Array(it.labels.data.length));
    const byReason: Record<string, number> = {};
    let backgroundOnly = 0,
      fallbackObjects = 0,
      rounds = 0,
      suggestS = 0,
      steps = 0;
    const t0 = Date.now();
    const current = () => trainData.map((it, i) => ({ image: it.image, labels: annotate(it.labels, kept[i], extraBg[i]) }));
    const objects = () => kept.reduce((a, s) => a + s.size, 0);
    let model = await fit(current(), stepsPerRound, seed);
    steps += stepsPerRound;
    for (const target of targets) {
      for (let r = 0; r < roundsPerK; r++) {
        const need = Math.ceil((target.objects - objects()) / (roundsPerK - r));
        if (need > 0) {
          const ts = Date.now();
          const pool: Array<{ i: number; s: Awaited<ReturnType<typeof suggestOnPlane>>[number] }> = [];
          for (const [i, it] of trainData.entries()) {
            const labels = annotate(it.labels, kept[i], extraBg[i]);
            const plane = normalizeImage(it.image, model.normalization);
            const list = await suggestOnPlane(model, plane, labels, [0, 0, it.image.height, it.image.width], {
              count: perImage,
              tta: opts.tta ?? d.tta,
              reasons: opts.reasons,
              signal: opts.signal,
            });
            for (const s of list) pool.push({ i, s });
          }
          suggestS += (Date.now() - ts) / 1000;
          pool.sort((a, b) => b.s.score - a.s.score);
          let added = 0;
          for (const { i, s } of pool) {
            if (added >= need) break;
            const dense = trainData[i].labels;
            const W = dense.width;
            const ids = new Map<number, number>();
            const pixels = suggestionPixels(s, dense.height, W);
            for (const p of pixels) {
              const v = dense.data[p];
              if (v > 0 && !kept[i].has(v)) ids.set(v, (ids.get(v) ?? 0) + 1);
            }
            let newIds: number[];
            if (s.kind === 'object') {
              const best = [...ids].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
              newIds = best ? [best[0]] : [];
            } else {
              // an area: the unlabeled true objects it overlaps
              const st = statsOf[i];
              newIds = [...ids.keys()].filter((id) => {
                const o = st.find((q) => q.id === id);
                return o !== undefined && o.minorAxisLength > 0;
              });
            }
            newIds = newIds.slice(0, need - added);
            if (newIds.length === 0) {
              for (const p of pixels) extraBg[i][p] = 1; // nothing there: the person paints it background
              backgroundOnly++;
              continue;
            }
            for (const id of newIds) kept[i].add(id);
            added += newIds.length;
            byReason[s.reason] = (byReason[s.reason] ?? 0) + newIds.length;
          }
          if (added < need) {
            const rand = rng(imageSeed(`fallback-${r}-${target.k}`, seed));
            const free = trainData.flatMap((_, i) => statsOf[i].filter((o) => o.minorAxisLength > 0 && !kept[i].has(o.id)).map((o) => [i, o.id] as const));
            while (added < need && free.length) {
              const [i, id] = free.splice(Math.floor(rand() * free.length), 1)[0];
              kept[i].add(id);
              added++;
              fallbackObjects++;
            }
          }
          rounds++;
          emit({ type: 'round', seed, ordering: 'suggested', k: target.k, message: `round ${rounds}: ${objects()} objects (+${added})` });
        }
        model = await fit(current(), stepsPerRound, seed + 1000 * (rounds + 1), model);
        steps += stepsPerRound;
      }
      const added = { byReason: { ...byReason }, backgroundOnly, fallbackObjects, rounds, suggestS: round4(suggestS) };
      const at = await evaluate(model);
      runs.push({ seed, ordering: 'suggested-rounds', k: target.k, objects: objects(), steps, trainS: round4((Date.now() - t0) / 1000), atIoU05: at, added });
      report(true);
      emit({ type: 'eval', seed, ordering: 'suggested-rounds', k: target.k, message: `F1 ${at.f1.toFixed(3)} at ${objects()} objects, ${steps} steps` });
      // the same labels, trained from scratch in one run like minmax and random
      const t2 = Date.now();
      const fresh = await fit(current(), target.steps, seed);
      const atFresh = await evaluate(fresh);
      disposeModel(fresh);
      runs.push({
        seed,
        ordering: 'suggested',
        k: target.k,
        objects: objects(),
        steps: target.steps,
        trainS: round4((Date.now() - t2) / 1000),
        atIoU05: atFresh,
        added,
      });
      report(true);
      emit({
        type: 'eval',
        seed,
        ordering: 'suggested',
        k: target.k,
        message: `F1 ${atFresh.f1.toFixed(3)} at ${objects()} objects, ${target.steps} steps from scratch`,
      });
    }
    disposeModel(model);
    // --- minmax and random with background, from scratch, same total steps
    for (const ordering of ['minmax', 'random'] as const)
      for (const target of targets) {
        const t1 = Date.now();
        const items = trainData.map((it) => {
          const sim = simulateAnnotation(it.image, it.labels, { kind: 'sparse', ordering, k: target.k, bg: 'bg' }, imageSeed(it.name, seed));
          return { image: it.image, labels: sim.labels, n: sim.keptIds.length };
        });
        const m = await fit(items, target.steps, seed);
        const at = await evaluate(m);
        disposeModel(m);
        const n = items.reduce((a, b) => a + b.n, 0);
        runs.push({ seed, ordering, k: target.k, objects: n, steps: target.steps, trainS: round4((Date.now() - t1) / 1000), atIoU05: at });
        report(true);
        emit({ type: 'eval', seed, ordering, k: target.k, message: `F1 ${at.f1.toFixed(3)} at ${n} objects, ${target.steps} steps` });
      }
  }

  const result = report(false);
  const spec = suggestFigureSpec(result.summary);
  writeFileAtomic(join(opts.outDir, 'suggest-study.vl.json'), JSON.stringify(spec, null, 2) + '\n');
  const fig = await renderFigure(spec);
  writeFileAtomic(join(opts.outDir, 'suggest-study.svg'), fig.svg);
  writeFileAtomic(join(opts.outDir, 'suggest-study.png'), fig.png);
  return result;
}

/** F1@0.5 against annotated objects per ordering: mean over seeds with a ±1 sd bar. */
export function suggestFigureSpec(rows: SuggestSummaryRow[]): TopLevelSpec {
  const values = rows.map((r) => ({
    ordering: r.ordering,
    objects: r.objects.mean,
    f1: r.f1.mean,
    lo: round4(r.f1.mean - r.f1.sd),
    hi: round4(r.f1.mean + r.f1.sd),
  }));
  const x = { field: 'objects', type: 'quantitative', title: 'objects annotated (mean over seeds)' } as const;
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: 'What to annotate next: suggested vs minmax vs random (equal steps)',
    width: 420,
    height: 280,
    config: FIGURE_CONFIG,
    data: { values },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'f1', type: 'quantitative', title: 'F1 at IoU 0.5 (mean ± sd over seeds)', scale: { zero: false } },
          color: { field: 'ordering', type: 'nominal' },
        },
      },
      { mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: { field: 'ordering', type: 'nominal' } } },
    ],
  } as TopLevelSpec;
}
