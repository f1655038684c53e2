/**
 * The study's output files: results.json, results.csv (one row per cell), results.md (a Markdown table) and the
 * figures (figures.ts: metrics vs k and vs the fraction of objects annotated), each as a Vega-Lite spec with its
 * data inline (.vl.json), SVG and PNG.
 * The formatting functions are pure; writeStudyReport writes the files through storage/dataset.ts.
 */
import { join } from 'node:path';
import { ensureDir, fileExists, readText, writeFileAtomic } from '../storage/dataset.js';
import { renderFigure } from '../plot/vega.js';
import { FIGURES, studyFigureSpec } from './figures.js';
import { BG_NAME, sortCells, type CellResult, type StudySetup } from './types.js';

const f4 = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : '');

/** "0.5, 0.3" (prob, nms) for tuned thresholds; undefined when the family's defaults were used. */
export function formatThresholds(th: CellResult['evaluation']['thresholds'] | undefined): string | undefined {
  if (th?.probThresh === undefined) return undefined;
  return `${th.probThresh}${th.nmsThresh !== undefined ? `, ${th.nmsThresh}` : ''}`;
}

export function toCsv(cells: CellResult[]): string {
  const ths = cells[0]?.evaluation.curve.map((c) => c.thresh) ?? [];
  const head = [
    'id',
    'ordering',
    'k',
    'bg',
    'objects_kept',
    'objects_total',
    'fraction_objects',
    'pixels_labeled',
    'pixels_total',
    'fraction_pixels',
    'train_steps',
    'train_seconds',
    'train_loss',
    'test_images',
    'n_true',
    'n_pred',
    'tp',
    'fp',
    'fn',
    'precision',
    'recall',
    'accuracy',
    'f1',
    'panoptic_quality',
    'mean_matched_score',
    'mean_true_score',
    ...ths.map((t) => `f1_iou${t.toFixed(1)}`),
    'prob_thresh',
    'nms_thresh',
    'thresholds_from',
    'f1_default_thresholds',
  ];
  const rows = sortCells(cells).map((c) => {
    const m = c.evaluation.atIoU05;
    return [
      c.id,
      c.ordering,
      c.k ?? 'full',
      c.bg,
      c.cost.objectsKept,
      c.cost.objectsTotal,
      c.cost.fractionObjects.toFixed(6),
      c.cost.pixelsLabeled,
      c.cost.pixelsTotal,
      c.cost.fractionPixels.toFixed(6),
      c.training.steps,
      c.training.seconds,
      f4(c.training.loss),
      c.evaluation.images,
      m.n_true,
      m.n_pred,
      m.tp,
      m.fp,
      m.fn,
      f4(m.precision),
      f4(m.recall),
      f4(m.accuracy),
      f4(m.f1),
      f4(m.panoptic_quality),
      f4(m.mean_matched_score),
      f4(m.mean_true_score),
      ...c.evaluation.curve.map((s) => f4(s.f1)),
      c.evaluation.thresholds?.probThresh ?? '',
      c.evaluation.thresholds?.nmsThresh ?? '',
      `"${c.evaluation.thresholds?.chosenOn ?? 'family defaults'}"`,
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
    lines.push(
      `| ${c.id} | ${c.ordering} | ${c.k ?? 'all'} | ${c.bg === 'full' ? 'all' : (BG_NAME[c.bg] ?? c.bg)} | ${pct(c.cost.fractionObjects)} | ${pct(c.cost.fractionPixels)} | ${c.training.steps} | ${m.precision.toFixed(3)} | ${m.recall.toFixed(3)} | ${m.accuracy.toFixed(3)} | ${m.f1.toFixed(3)} | ${m.panoptic_quality.toFixed(3)} | ${rel} | ${thText} | ${def} |`,
    );
  }
  const missing = setup.cells.filter((id) => !cells.some((c) => c.id === id));
  if (missing.length) lines.push('', `Not finished yet: ${missing.join(', ')}.`);
  lines.push(
    '',
    `Figures: ${FIGURES.map(([, stem]) => `${stem}.png`).join(', ')} (also .svg; the Vega-Lite spec with the plotted data is the .vl.json beside each). Solid: with background annotation, dashed: without, dotted: scribbles; black dashed: full labels.`,
    '',
  );
  return lines.join('\n');
}

/** Write every output file (results.json unless `resultsJson` is false); returns their paths. */
export async function writeStudyReport(outDir: string, setup: StudySetup, cells: CellResult[], opts: { resultsJson?: boolean } = {}): Promise<string[]> {
  ensureDir(outDir);
  const sorted = sortCells(cells);
  const files: Array<[string, Uint8Array | string]> = [];
  if (opts.resultsJson !== false)
    files.push(['results.json', JSON.stringify({ setup, cells: sorted.map(({ fingerprint: _f, ...rest }) => rest) }, null, 2) + '\n']);
  files.push(['results.csv', toCsv(sorted)], ['results.md', toMarkdown(setup, sorted)]);
  for (const [x, stem] of FIGURES) {
    const fig = await renderFigure(studyFigureSpec(setup, sorted, x));
    files.push([`${stem}.vl.json`, JSON.stringify(fig.spec, null, 1) + '\n'], [`${stem}.svg`, fig.svg], [`${stem}.png`, fig.png]);
  }
  return files.map(([name, body]) => {
    const p = join(outDir, name);
    writeFileAtomic(p, body);
    return p;
  });
}

/** Rewrite a finished study's tables and figures from its results.json (no training); returns the files written. */
export async function rewriteStudyReport(outDir: string): Promise<string[]> {
  const file = join(outDir, 'results.json');
  if (!fileExists(file)) throw new Error(`${file} does not exist (run the study first)`);
  let parsed: { setup?: StudySetup; cells?: CellResult[] };
  try {
    parsed = JSON.parse(readText(file)) as typeof parsed;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message})`);
  }
  if (!parsed.setup || !Array.isArray(parsed.cells) || parsed.cells.length === 0) throw new Error(`${file} has no setup or no cells`);
  return writeStudyReport(outDir, parsed.setup, parsed.cells, { resultsJson: false });
}
