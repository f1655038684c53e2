/**
 * Datasets on disk: a folder of image TIFFs and a folder of label TIFFs with the same file names (the StarDist /
 * DSB2018 layout). Used by the CLI, the study and the benchmarks (never by the daemon's RPC path).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeTiff, encodeTiff } from '../imaging/tiff.js';
import type { Image2D, Labels2D } from '../imaging/types.js';

export interface DatasetItem {
  name: string;
  image: Image2D;
  /** Signed labels (masks: 0 background, k instance; sparse labels may hold -1). */
  labels?: Labels2D;
}

const isTiff = (f: string) => /\.tiff?$/i.test(f);

export function listTiffs(dir: string): string[] {
  if (!existsSync(dir)) throw new Error(`folder not found: ${dir}`);
  return readdirSync(dir).filter(isTiff).sort();
}

export function readImage(path: string): Image2D {
  const t = decodeTiff(new Uint8Array(readFileSync(path)));
  if (t.pages !== 1) throw new Error(`${path}: ${t.pages} pages; 2-D images only here`);
  return { height: t.height, width: t.width, channels: t.channels, data: Float32Array.from(t.data) };
}

/** Read a label TIFF; offset1 files are converted to signed (v - 1). */
export function readLabels(path: string, encoding: 'signed' | 'offset1' = 'signed'): Labels2D {
  const t = decodeTiff(new Uint8Array(readFileSync(path)));
  if (t.pages !== 1 || t.channels !== 1) throw new Error(`${path}: label images must be single-page, single-channel`);
  if (t.dtype === 'float32') throw new Error(`${path}: label images must have an integer type`);
  const off = encoding === 'offset1' ? 1 : 0;
  const data = new Int32Array(t.data.length);
  for (let i = 0; i < data.length; i++) data[i] = t.data[i] - off;
  return { height: t.height, width: t.width, data };
}

/** Images (and labels with the same file name, when labelsDir is given). */
export function loadDataset(imagesDir: string, labelsDir?: string, encoding: 'signed' | 'offset1' = 'signed', names?: string[]): DatasetItem[] {
  const files = names ?? listTiffs(imagesDir);
  return files.map((name) => {
    const image = readImage(join(imagesDir, name));
    if (!labelsDir) return { name, image };
    const lp = join(labelsDir, name);
    if (!existsSync(lp)) throw new Error(`no label file for ${name} in ${labelsDir}`);
    const labels = readLabels(lp, encoding);
    if (labels.height !== image.height || labels.width !== image.width)
      throw new Error(`${name}: labels ${labels.height}x${labels.width} != image ${image.height}x${image.width}`);
    return { name, image, labels };
  });
}

/** Write instance labels as an int32 (or uint16 when it fits) TIFF. */
export function writeLabels(path: string, labels: Labels2D): void {
  let max = 0;
  for (const v of labels.data) if (v > max) max = v;
  const data = max <= 65535 && labels.data.every((v) => v >= 0) ? Uint16Array.from(labels.data) : labels.data;
  writeFileSync(path, encodeTiff({ dtype: data instanceof Uint16Array ? 'uint16' : 'int32', height: labels.height, width: labels.width, data }));
}

export function writeBytes(path: string, bytes: Uint8Array | string): void {
  writeFileSync(path, bytes);
}

/** Write a file atomically (temporary file beside it, then rename), so a killed run never leaves half a file. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

export function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

export function fileExists(path: string): boolean {
  return existsSync(path);
}

/** The shared DSB2018 data set beside the project (../shared/data/dsb2018-train), or undefined when absent. */
export function sharedDataDir(root: string, name: string): string | undefined {
  const d = join(root, '..', 'shared', 'data', name);
  return existsSync(d) ? d : undefined;
}

/** Rows of a tab-separated index file (e.g. dsb2018-train/index.tsv): header from the first line (a leading "# " is dropped). */
export function readIndexTsv(path: string): Array<Record<string, string>> {
  if (!existsSync(path)) throw new Error(`index not found: ${path}`);
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const header = lines[0].replace(/^#\s*/, '').split('\t');
  return lines
    .slice(1)
    .filter((l) => !l.startsWith('#'))
    .map((l) => {
      const cells = l.split('\t');
      return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
    });
}
