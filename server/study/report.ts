/**
 * The study's output files: results.json, results.csv (one row per cell), results.md (a Markdown table) and PNG
 * plots (metrics vs k and vs the fraction of objects annotated; one colour per ordering, solid = with background
 * annotation, dashed = without, dotted = scribbles; full labels as a dashed black reference line).
 * The formatting functions are pure; writeStudyReport writes the files through storage/dataset.ts.
 */
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../storage/dataset.js';
import type { MatchingStats } from '../metrics/matching.js';
import { COLORS, renderFigure, type ChartSpec, type LegendItem, type RGB, type Series } from './plot.js';
import { encodePng } from './png.js';
import type { CellResult, StudySetup } from './types.js';

export const METRICS: ReadonlyArray<[keyof MatchingStats, string]> = [
  ['f1', 'F1'], ['accuracy', 'accuracy'], ['precision', 'precision'], ['recall', 'recall'], ['panoptic_quality', 'PQ'],
];

const ORDER_COLORS: Record<string, RGB> = { minmax: COLORS.blue, min: COLORS.orange, max: COLORS.green, random: COLORS.purple };
const BG_DASH: Record<string, readonly number[] | undefined> = { bg: undefined, none: [8, 5], scribble: [2, 4] };
const BG_NAME: Record<string, string> = { bg: 'with BG', none: 'no BG', scribble: 'scribble BG' };
const FULL_DASH = [10, 6];

/** Cells in a stable reading order: full first, then ordering, background variant, k. */
export function sortCells(cells: CellResult[]): CellResult[] {
  const ord = ['full', 'minmax', 'min', 'max', 'random'], bg = ['full', 'bg', 'scribble', 'none'];
  return [...cells].sort((a, b) => ord.indexOf(a.ordering) - ord.indexOf(b.ordering) || bg.indexOf(a.bg) - bg.indexOf(b.bg) || (a.k ?? 0) - (b.k ?? 0));
}

const f4 = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : '');

/** "0.5, 0.3" (prob, nms) for tuned thresholds; undefined when the family's defaults were used. */
export function formatThresholds(th: CellResult['evaluation']['thresholds'] | undefined): string | undefined {
  if (th?.probThresh === undefined) return undefined;
  return `${th.probThresh}${th.nmsThresh !== undefined ? `, ${th.nmsThresh}` : ''}`;
}

export function toCsv(cells: CellResult[]): string {
  const ths = cells[0]?.evaluation.curve.map((c) => c.thresh) ?? [];
  const head = [
    'id', 'ordering', 'k', 'bg', 'objects_kept', 'objects_total', 'fraction_objects', 'pixels_labeled', 'pixels_total', 'fraction_pixels',
    'train_steps', 'train_seconds', 'train_loss', 'test_images', 'n_true', 'n_pred', 'tp', 'fp', 'fn',
    'precision', 'recall', 'accuracy', 'f1', 'panoptic_quality', 'mean_matched_score', 'mean_true_score',
    ...ths.map((t) => `f1_iou${t.toFixed(1)}`),
    'prob_thresh', 'nms_thresh', 'thresholds_from', 'f1_default_thresholds',
  ];
  const rows = sortCells(cells).map((c) => {
    const m = c.evaluation.atIoU05;
    return [
      c.id, c.ordering, c.k ?? 'full', c.bg, c.cost.objectsKept, c.cost.objectsTotal, c.cost.fractionObjects.toFixed(6), c.cost.pixelsLabeled, c.cost.pixelsTotal,
      c.cost.fractionPixels.toFixed(6), c.training.steps, c.training.seconds, f4(c.training.loss), c.evaluation.images, m.n_true, m.n_pred, m.tp, m.fp, m.fn,
      f4(m.precision), f4(m.recall), f4(m.accuracy), f4(m.f1), f4(m.panoptic_quality), f4(m.mean_matched_score), f4(m.mean_true_score),
      ...c.evaluation.curve.map((s) => f4(s.f1)),
      c.evaluation.thresholds?.probThresh ?? '', c.evaluation.thresholds?.nmsThresh ?? '', `"${c.evaluation.thresholds?.chosenOn ?? 'family defaults'}"`,
      c.evaluation.defaultThresholdsAtIoU05 ? f4(c.evaluation.defaultThresholdsAtIoU05.f1) : '',
    ].join(',');
  });
  return [head.join(','), ...rows].join('\n') + '\n';
}

const pct = (v: number) => (v >= 0.1 ? (100 * v).toFixed(1) : (100 * v).toFixed(2)) + ' %';

export function toMarkdown(setup: StudySetup, cells: CellResult[]): string {
  const full = cells.find((c) => c.id === 'full');
  const lines = [
    `# Sparse-annotation study (${setup.family})`,
    '',
    `- training set: ${setup.trainSet.count} images (${setup.trainSet.images}); test set: ${setup.testSet.count} images (${setup.testSet.split})`,
    `- budget: ${setup.budgetS} s of training in total, ${setup.perCellS.toFixed(0)} s per cell (${setup.cells.length} cells, grid ${setup.grid}); seed ${setup.seed}; backend ${setup.backend ?? '?'}`,
    `- model config: \`${JSON.stringify(setup.config)}\`; training: patch ${String(setup.train.patchSize)}, batch ${String(setup.train.batchSize)}, lr ${String(setup.train.learningRate)}`,
    '- metrics: stardist matching_dataset at IoU 0.5 on the test images (F1 curve over IoU 0.1–0.9 in results.csv); cost = kept objects / all objects and labeled pixels / all pixels of the training images',
    `- thresholds: ${setup.valSet?.count ? `chosen per cell on ${setup.valSet.count} validation images (${setup.valSet.rule}); "F1 default thr." is the same model at the family's default thresholds` : "the family's defaults"}`,
    '',
    '| strategy | ordering | k | background | objects annotated | pixels labeled | steps | precision | recall | accuracy | F1 | PQ | F1 / full | thresholds (prob, nms) | F1 default thr. |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|',
  ];
  for (const c of sortCells(cells)) {
    const m = c.evaluation.atIoU05;
    const rel = full && full.evaluation.atIoU05.f1 > 0 ? (m.f1 / full.evaluation.atIoU05.f1).toFixed(2) : '';
    const thText = formatThresholds(c.evaluation.thresholds) ?? 'defaults';
    const def = c.evaluation.defaultThresholdsAtIoU05 ? c.evaluation.defaultThresholdsAtIoU05.f1.toFixed(3) : '';
    lines.push(`| ${c.id} | ${c.ordering} | ${c.k ?? 'all'} | ${c.bg === 'full' ? 'all' : BG_NAME[c.bg] ?? c.bg} | ${pct(c.cost.fractionObjects)} | ${pct(c.cost.fractionPixels)} | ${c.training.steps} | ${m.precision.toFixed(3)} | ${m.recall.toFixed(3)} | ${m.accuracy.toFixed(3)} | ${m.f1.toFixed(3)} | ${m.panoptic_quality.toFixed(3)} | ${rel} | ${thText} | ${def} |`);
  }
  const missing = setup.cells.filter((id) => !cells.some((c) => c.id === id));
  if (missing.length) lines.push('', `Not finished yet: ${missing.join(', ')}.`);
  lines.push('', 'Plots: metrics-vs-k.png, metrics-vs-fraction.png (solid: with background annotation, dashed: without, dotted: scribbles; black dashed: full labels).', '');
  return lines.join('\n');
}

/** Series keys (ordering, bg) present among the sparse cells, in reading order. */
function seriesKeys(cells: CellResult[]): Array<[string, string]> {
  const keys: Array<[string, string]> = [];
  for (const c of sortCells(cells)) if (c.k !== null && !keys.some(([o, b]) => o === c.ordering && b === c.bg)) keys.push([c.ordering, c.bg]);
  return keys;
}

export function studyCharts(cells: CellResult[], x: 'k' | 'fraction'): ChartSpec[] {
  const sparse = cells.filter((c) => c.k !== null);
  const full = cells.find((c) => c.k === null);
  const ks = [...new Set(sparse.map((c) => c.k as number))].sort((a, b) => a - b);
  return METRICS.map(([key, name]) => {
    const series: Series[] = seriesKeys(cells).map(([o, b]) => ({
      label: `${o} ${BG_NAME[b] ?? b}`,
      color: ORDER_COLORS[o] ?? COLORS.brown,
      dash: BG_DASH[b],
      points: sparse.filter((c) => c.ordering === o && c.bg === b)
        .map((c) => [x === 'k' ? (c.k as number) : c.cost.fractionObjects, c.evaluation.atIoU05[key] as number] as [number, number]),
    }));
    const fracs = sparse.map((c) => c.cost.fractionObjects).filter((v) => v > 0);
    const spec: ChartSpec = {
      title: `${name} (IoU 0.5)`,
      xLabel: x === 'k' ? 'k (2k objects kept per image)' : 'fraction of objects annotated',
      yLabel: name,
      xLog: true,
      yMin: 0,
      yMax: 1,
      series,
      refLines: full ? [{ label: 'full labels', y: full.evaluation.atIoU05[key] as number, color: COLORS.black, dash: FULL_DASH }] : [],
    };
    if (x === 'k' && ks.length) {
      spec.xTicks = ks;
      spec.xMin = ks[0] / 1.5;
      spec.xMax = ks[ks.length - 1] * 1.5;
    } else if (fracs.length) {
      spec.xMin = Math.min(...fracs) / 1.5;
      spec.xMax = 1;
    }
    return spec;
  });
}

export function studyLegend(cells: CellResult[]): LegendItem[] {
  const items: LegendItem[] = seriesKeys(cells).map(([o, b]) => ({ label: `${o}, ${BG_NAME[b] ?? b}`, color: ORDER_COLORS[o] ?? COLORS.brown, dash: BG_DASH[b], marker: true }));
  if (cells.some((c) => c.k === null)) items.push({ label: 'full labels', color: COLORS.black, dash: FULL_DASH });
  return items;
}

/** PNG bytes of one study figure. */
export function studyFigurePng(setup: StudySetup, cells: CellResult[], x: 'k' | 'fraction'): Uint8Array {
  const title = `sparsecell study: ${setup.family}, ${setup.trainSet.count} train / ${setup.testSet.count} test images, ${Math.round(setup.perCellS)} s per cell`;
  const cv = renderFigure(studyCharts(cells, x), { cols: 3, title, legend: studyLegend(cells) });
  return encodePng(cv.width, cv.height, cv.data, 3);
}

/** Write every output file; returns their paths. */
export function writeStudyReport(outDir: string, setup: StudySetup, cells: CellResult[]): string[] {
  ensureDir(outDir);
  const sorted = sortCells(cells);
  const files: Array<[string, Uint8Array | string]> = [
    ['results.json', JSON.stringify({ setup, cells: sorted.map(({ fingerprint: _f, ...rest }) => rest) }, null, 2) + '\n'],
    ['results.csv', toCsv(sorted)],
    ['results.md', toMarkdown(setup, sorted)],
    ['metrics-vs-k.png', studyFigurePng(setup, sorted, 'k')],
    ['metrics-vs-fraction.png', studyFigurePng(setup, sorted, 'fraction')],
  ];
  return files.map(([name, body]) => {
    const p = join(outDir, name);
    writeFileAtomic(p, body);
    return p;
  });
}
