/**
 * `sparsecell evaluate`: stardist-style matching of a folder of predicted label images against a folder of
 * ground-truth label images (same file names), dataset-level like stardist's matching_dataset (counts summed
 * over images, ratios from the sums; --by-image averages the ratios instead), one row per IoU threshold.
 * --sparse: the ground truth may hold unlabeled pixels (-1, or 0 with --encoding offset1); uses the
 * sparse-aware matching of metrics/matching.ts (unlabeled ground truth is not counted).
 */
import { join } from 'node:path';
import { fileExists, listTiffs, readLabels, writeBytes } from '../storage/dataset.js';
import { matching, matchingDataset, matchingDatasetSparse, matchingSparse, type MatchingStats } from '../metrics/matching.js';
import type { Labels2D } from '../imaging/types.js';
import { ProgressBar } from './progress-bar.js';
import { UsageError, choice, optionalString, parseFlags, requireDir, runCli } from './args.js';

export const EVALUATE_USAGE = `usage: sparsecell evaluate --pred DIR --gt DIR [options]

  --pred DIR            predicted label TIFFs (0 background, k instance)
  --gt DIR              ground-truth label TIFFs with the same file names
  --thresh T            IoU threshold(s): 0.5 (default), a list 0.1,0.5,0.9, or "all" = 0.1,0.2,...,0.9
  --by-image            average the ratios over images (stardist by_image=True) instead of pooling counts
  --sparse              ground truth is sparse: unlabeled pixels are not counted (sparse-aware matching)
  --encoding E          ground-truth label encoding: signed (default) or offset1 (0 unlabeled, 1 background)
  --json FILE           also write the results (and per-image numbers) as JSON
`;

const COLUMNS: Array<[keyof MatchingStats, string]> = [
  ['thresh', 'thresh'],
  ['n_true', 'n_true'],
  ['n_pred', 'n_pred'],
  ['tp', 'tp'],
  ['fp', 'fp'],
  ['fn', 'fn'],
  ['precision', 'precision'],
  ['recall', 'recall'],
  ['accuracy', 'accuracy'],
  ['f1', 'f1'],
  ['mean_true_score', 'mean_true'],
  ['mean_matched_score', 'mean_matched'],
  ['panoptic_quality', 'pq'],
];

/** The table `evaluate` prints: a header line, then one line per threshold (whitespace-separated columns). */
export function formatMatchingTable(rows: MatchingStats[]): string {
  const cells = rows.map((r) =>
    COLUMNS.map(([k]) => {
      const v = r[k] as number;
      return k === 'thresh' ? v.toFixed(2) : Number.isInteger(v) && !['precision', 'recall', 'accuracy', 'f1'].includes(k) ? String(v) : v.toFixed(4);
    }),
  );
  const widths = COLUMNS.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((s, i) => s.padStart(widths[i])).join('  ');
  return [line(COLUMNS.map(([, h]) => h)), ...cells.map(line)].join('\n') + '\n';
}

function parseThresholds(s: string | undefined): number[] {
  if (s === undefined) return [0.5];
  if (s === 'all') return [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
  const parts = s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const ths = parts.map(Number);
  if (ths.length === 0 || ths.some((t, i) => parts[i] === '' || !Number.isFinite(t) || t < 0 || t > 1))
    throw new UsageError(`--thresh must be a number in [0, 1], a comma-separated list of them, or "all" (got "${s}")`);
  return ths;
}

export async function run(args: string[], _env: { backend?: string } = {}): Promise<number> {
  return runCli('evaluate', EVALUATE_USAGE, async () => {
    const str = { type: 'string' } as const;
    const f = parseFlags(args, { pred: str, gt: str, thresh: str, json: str, sparse: { type: 'boolean' }, 'by-image': { type: 'boolean' }, encoding: str });
    if (f.help) {
      process.stdout.write(EVALUATE_USAGE);
      return 0;
    }
    const predDir = requireDir(f, 'pred');
    const gtDir = requireDir(f, 'gt');
    const ths = parseThresholds(optionalString(f, 'thresh'));
    const sparse = f.sparse === true;
    const byImage = f['by-image'] === true;
    const encoding = choice(f, 'encoding', ['signed', 'offset1'] as const, 'signed');
    const jsonPath = optionalString(f, 'json');
    const names = listTiffs(gtDir);
    if (names.length === 0) throw new UsageError(`--gt: no .tif/.tiff files in ${gtDir}`);
    const missing = names.filter((n) => !fileExists(join(predDir, n)));
    if (missing.length)
      throw new Error(
        `${missing.length} ground-truth image(s) have no prediction in ${predDir}: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}`,
      );

    const bar = new ProgressBar({ label: 'evaluate', total: names.length, unit: 'images' });
    const gts: Labels2D[] = [],
      preds: Labels2D[] = [];
    const perImage: Array<{ name: string; stats: MatchingStats[] }> = [];
    for (const [i, name] of names.entries()) {
      const gt = readLabels(join(gtDir, name), encoding);
      const pred = readLabels(join(predDir, name), 'signed');
      if (gt.height !== pred.height || gt.width !== pred.width)
        throw new Error(`${name}: prediction ${pred.height}x${pred.width} != ground truth ${gt.height}x${gt.width}`);
      if (pred.data.some((v) => v < 0)) throw new Error(`${name}: predicted labels must be non-negative`);
      if (!sparse && gt.data.some((v) => v < 0))
        throw new UsageError(`${name}: the ground truth has unlabeled pixels; use --sparse (and --encoding offset1 for napari/Fiji label images)`);
      gts.push(gt);
      preds.push(pred);
      if (jsonPath) perImage.push({ name, stats: sparse ? matchingSparse(gt, pred, ths) : matching(gt, pred, ths) });
      bar.update(i + 1);
    }
    const rows = sparse ? matchingDatasetSparse(gts, preds, ths, 'iou', byImage) : matchingDataset(gts, preds, ths, 'iou', byImage);
    bar.finish(`${names.length} images`);
    process.stdout.write(
      `# ${names.length} images, IoU matching (stardist matching_dataset, by_image=${byImage ? 'True' : 'False'}${sparse ? ', sparse ground truth' : ''})\n`,
    );
    process.stdout.write(formatMatchingTable(rows));
    if (jsonPath) {
      writeBytes(
        jsonPath,
        JSON.stringify({ pred: predDir, gt: gtDir, images: names.length, sparse, byImage, criterion: 'iou', results: rows, perImage }, null, 2) + '\n',
      );
      process.stderr.write(`sparsecell evaluate: wrote ${jsonPath}\n`);
    }
    return 0;
  });
}
