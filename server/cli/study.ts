/**
 * `sparsecell study`: the sparse-annotation study (server/study/run-study.ts). Progress on stderr (cell i/N,
 * annotation cost, a training bar, evaluation, the cell's F1); results in --out. Ctrl-C stops after the current
 * training step; finished cells stay in <out>/cells and are skipped by the next run.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileExists, readBytes, sharedDataDir } from '../storage/dataset.js';
import { initBackend } from '../tensor/backend.js';
import { familyNames } from '../models/registry.js';
import { TRAIN_DEFAULTS } from '../training/config.js';
import { runStudy, STUDY_DEFAULTS, type StudyEvent, type StudyOptions, type StudyResult } from '../study/run-study.js';
import { rewriteStudyReport } from '../study/report.js';
import { ProgressBar, formatDuration } from './progress-bar.js';
import { UsageError, backendChoice, choice, optionalNumber, optionalString, parseFlags, requireDir, runCli, type CliFlags } from './args.js';

/** The project root (this file is <root>/<dist folder>/server/cli/study.js). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** ../shared/data/dsb2018-train beside the project root, else relative to the working folder. */
export const DEFAULT_DATA = sharedDataDir(ROOT, 'dsb2018-train') ?? join('..', 'shared', 'data', 'dsb2018-train');

export const STUDY_USAGE = `usage: sparsecell study [options]

Simulates sparse annotation strategies on a densely labeled data set, trains one model per strategy under an equal
time budget and evaluates each on held-out images (stardist matching, IoU 0.5 and 0.1-0.9).

  --images DIR          image TIFFs (default ${DEFAULT_DATA}/images)
  --masks DIR           dense instance masks with the same file names (default ${DEFAULT_DATA}/masks)
  --test-images DIR     evaluate on a separate test set (with --test-masks) instead of the fixed
  --test-masks DIR      seeded 50-image held-out split of --images
  --out DIR             output folder (default study-results)
  --family F            ${familyNames().join(' | ')} (default ${STUDY_DEFAULTS.family})
  --grid G              default (minmax, k 1..256, with/without BG, + full: 11 cells) |
                        all (minmax/min/max/random x none/bg/scribble x k, + full: 61 cells)
  --cells IDS           explicit comma-separated cells instead of a grid, e.g. full,minmax-k4-bg
  --budget SECONDS      total training time over all cells of the grid (default ${STUDY_DEFAULTS.budgetS})
  --holdout N           size of the held-out split of --images (default ${STUDY_DEFAULTS.holdout})
  --val N               validation images (dense masks, not trained on) choosing each cell's thresholds
                        (default ${STUDY_DEFAULTS.val}; 0 = the family's default thresholds)
  --seed N              seed of the random ordering, the scribbles and patch sampling (default ${STUDY_DEFAULTS.seed})
  --limit-train N       train on the first N training images only (smoke runs)
  --limit-test N        evaluate on the first N test images only (smoke runs)
  --max-steps N         cap on training steps per cell (default: the time budget only)
  --config JSON         family config (default: the family's defaults, the recipe's U-Net)
  --patch N             patch side (default ${TRAIN_DEFAULTS.patchSize}, the recipe's)
  --batch N             patches per step (default ${TRAIN_DEFAULTS.batchSize})
  --lr X                Adam learning rate (default ${TRAIN_DEFAULTS.learningRate}, then ${TRAIN_DEFAULTS.lrFinal} for the last ${100 * TRAIN_DEFAULTS.finalFraction} %)
  --backend B           auto | wasm | tfjs-node | tfjs-node-gpu | cpu (default: SPARSECELL_BACKEND or auto)
  --report-only         rewrite results.csv, results.md and the figures of --out from its results.json
                        (no training, no data needed; sparsecell study only)
`;

function parseJsonFlag(s: string | undefined, name: string): Record<string, unknown> | undefined {
  if (s === undefined) return undefined;
  let text = s;
  if (s.startsWith('@')) text = new TextDecoder().decode(readBytes(s.slice(1)));
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--${name} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`--${name} must be a JSON object`);
  return v as Record<string, unknown>;
}

export const STUDY_FLAGS = {
  images: { type: 'string' },
  masks: { type: 'string' },
  'test-images': { type: 'string' },
  'test-masks': { type: 'string' },
  out: { type: 'string' },
  family: { type: 'string' },
  grid: { type: 'string' },
  cells: { type: 'string' },
  budget: { type: 'string' },
  seed: { type: 'string' },
  holdout: { type: 'string' },
  val: { type: 'string' },
  'limit-train': { type: 'string' },
  'limit-test': { type: 'string' },
  'max-steps': { type: 'string' },
  config: { type: 'string' },
  patch: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  backend: { type: 'string' },
} as const;

/** Flags -> study options (without the backend, the signal and the event sink). */
export function studyOptionsFromFlags(f: CliFlags): StudyOptions {
  const dirOr = (name: string, fallback: string) => {
    if (optionalString(f, name) !== undefined) return requireDir(f, name);
    if (!fileExists(fallback)) throw new UsageError(`--${name} not given and the default ${fallback} does not exist`);
    return fallback;
  };
  const testImages = optionalString(f, 'test-images') !== undefined ? requireDir(f, 'test-images') : undefined;
  const testMasks = optionalString(f, 'test-masks') !== undefined ? requireDir(f, 'test-masks') : undefined;
  if (Boolean(testImages) !== Boolean(testMasks)) throw new UsageError('--test-images and --test-masks go together');
  const cells = optionalString(f, 'cells')
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const train: Record<string, number> = {};
  const patch = optionalNumber(f, 'patch', { int: true, min: 8, max: 4096 });
  const batch = optionalNumber(f, 'batch', { int: true, min: 1, max: 256 });
  const lr = optionalNumber(f, 'lr', { min: 0, max: 1, minOpen: true });
  if (patch !== undefined) train.patchSize = patch;
  if (batch !== undefined) train.batchSize = batch;
  if (lr !== undefined) train.learningRate = lr;
  return {
    imagesDir: dirOr('images', join(DEFAULT_DATA, 'images')),
    masksDir: dirOr('masks', join(DEFAULT_DATA, 'masks')),
    testImagesDir: testImages,
    testMasksDir: testMasks,
    outDir: optionalString(f, 'out') ?? 'study-results',
    family: choice(f, 'family', familyNames(), STUDY_DEFAULTS.family as never),
    grid: choice(f, 'grid', ['default', 'all'] as const, 'default'),
    cells,
    budgetS: optionalNumber(f, 'budget', { min: 0, minOpen: true }) ?? STUDY_DEFAULTS.budgetS,
    seed: optionalNumber(f, 'seed', { int: true, min: 0, max: 2 ** 31 - 1 }) ?? STUDY_DEFAULTS.seed,
    holdout: optionalNumber(f, 'holdout', { int: true, min: 1 }),
    val: optionalNumber(f, 'val', { int: true, min: 0 }),
    limitTrain: optionalNumber(f, 'limit-train', { int: true, min: 1 }),
    limitTest: optionalNumber(f, 'limit-test', { int: true, min: 1 }),
    maxSteps: optionalNumber(f, 'max-steps', { int: true, min: 1, max: 1e7 }),
    config: parseJsonFlag(optionalString(f, 'config'), 'config'),
    train,
  };
}

/** stderr progress for a study run. */
export function studyProgress(stream: { write(s: string): unknown; isTTY?: boolean } = process.stderr): (e: StudyEvent) => void {
  let bar: ProgressBar | undefined;
  let evalBar: ProgressBar | undefined;
  let tuneBar: ProgressBar | undefined;
  return (e) => {
    const tag = 'index' in e ? `cell ${e.index + 1}/${e.total} ${e.id}` : '';
    switch (e.type) {
      case 'loaded':
        stream.write(`study: ${e.trainImages} training / ${e.testImages} test images, ${e.cells} cells, ${formatDuration(e.perCellS)} of training per cell\n`);
        break;
      case 'cell-skip':
        stream.write(`${tag}: already finished, skipped\n`);
        break;
      case 'cell-start':
        stream.write(
          `${tag}: ${e.cost.objectsKept}/${e.cost.objectsTotal} objects (${(100 * e.cost.fractionObjects).toFixed(2)} %), ${(100 * e.cost.fractionPixels).toFixed(2)} % of pixels labeled\n`,
        );
        bar = new ProgressBar({ label: `  train`, total: 100, unit: '%', stream });
        evalBar = undefined;
        tuneBar = undefined;
        break;
      case 'train':
        bar?.update(Math.min(100, (100 * e.elapsedS) / e.limitS), { step: e.progress.step, loss: e.progress.smoothedLoss, 'steps/s': e.progress.stepsPerS });
        break;
      case 'tune':
        if (bar) {
          bar.finish();
          bar = undefined;
        }
        tuneBar ??= new ProgressBar({ label: '  thresholds', total: e.of, unit: 'images', stream });
        tuneBar.update(e.done);
        break;
      case 'eval':
        if (bar) {
          bar.finish();
          bar = undefined;
        }
        if (tuneBar) {
          tuneBar.finish();
          tuneBar = undefined;
        }
        evalBar ??= new ProgressBar({ label: '  evaluate', total: e.of, unit: 'images', stream });
        evalBar.update(e.done);
        break;
      case 'cell-done': {
        bar?.finish();
        evalBar?.finish();
        const m = e.result.evaluation.atIoU05;
        const th = e.result.evaluation.thresholds;
        const thText =
          th.probThresh !== undefined ? ` (prob ${th.probThresh}${th.nmsThresh !== undefined ? `, nms ${th.nmsThresh}` : ''} from ${th.chosenOn})` : '';
        stream.write(
          `${tag}: ${e.result.training.steps} steps in ${formatDuration(e.result.training.seconds)}; IoU 0.5${thText}: F1 ${m.f1.toFixed(3)}, precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, PQ ${m.panoptic_quality.toFixed(3)}\n`,
        );
        break;
      }
    }
  };
}

export function summarize(r: StudyResult): string {
  const lines = [`study: ${r.cells.length} cells (${r.skipped.length} reused) in ${r.outDir}`];
  for (const f of r.files) lines.push(`  ${f}`);
  return lines.join('\n') + '\n';
}

export async function run(args: string[], env: { backend?: string } = {}): Promise<number> {
  return runCli('study', STUDY_USAGE, async () => {
    const f = parseFlags(args, { ...STUDY_FLAGS, 'report-only': { type: 'boolean' } });
    if (f.help) {
      process.stdout.write(STUDY_USAGE);
      return 0;
    }
    if (f['report-only']) {
      const out = optionalString(f, 'out');
      if (out === undefined) throw new UsageError('--report-only needs --out DIR (a finished study folder)');
      const other = Object.keys(f).filter((k) => f[k] !== undefined && !['report-only', 'out', 'help'].includes(k));
      if (other.length) throw new UsageError(`--report-only takes only --out (got ${other.map((k) => `--${k}`).join(', ')})`);
      const files = await rewriteStudyReport(out);
      process.stderr.write(`sparsecell study: report rewritten from ${join(out, 'results.json')}\n${files.map((p) => `  ${p}\n`).join('')}`);
      return 0;
    }
    const opts = studyOptionsFromFlags(f);
    const backend = backendChoice(f, env.backend);
    const info = await initBackend(backend);
    const ac = new AbortController();
    const onSigint = () => {
      process.stderr.write('\nsparsecell study: interrupted; finished cells are kept in the output folder\n');
      ac.abort();
    };
    process.once('SIGINT', onSigint);
    const t0 = Date.now();
    try {
      const r = await runStudy({ ...opts, backend: info.name, signal: ac.signal, onEvent: studyProgress() });
      process.stderr.write(summarize(r));
      process.stderr.write(`sparsecell study: done in ${formatDuration((Date.now() - t0) / 1000)}\n`);
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    return 0;
  });
}
