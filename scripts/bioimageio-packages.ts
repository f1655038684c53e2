/**
 * bioimage.io packages of tiny models for tests: one per family, trained for a few steps on synthetic blobs
 * (scripts/synthetic.ts) with half the objects and all background labeled, so that they predict objects.
 * Run: npm run build && node dist/scripts/bioimageio-packages.js OUT_DIR   (writes OUT_DIR/<family>.zip)
 * The bioimage.io suite (scripts/bioimageio-ci.sh) validates them with bioimageio.spec and bioimageio.core.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeBlobs, sparsify } from './synthetic.js';
import { initBackend } from '../server/tensor/backend.js';
import type { FamilyName } from '../server/models/model-family.js';
import type { SegmentationModel } from '../server/models/segmentation-model.js';
import { fitModel } from '../server/training/pipeline.js';
import { applyAdaptation } from '../server/training/adapt.js';
import { buildPackage, pickTestCrop, type TrainingSummary } from '../server/bioimageio/package.js';
import type { Image2D, Labels2D } from '../server/imaging/types.js';

export const FAMILIES: FamilyName[] = ['stardist', 'cellpose', 'elephant'];
/** Packages written besides one per family: name -> family and config (StarDist's grid 2). */
export const VARIANTS: Record<string, { family: FamilyName; config: Record<string, unknown>; invert?: boolean }> = {
  'stardist-grid2': { family: 'stardist', config: { grid: 2 } },
  // a model adapted to dark objects on a bright background (training/adapt.ts): its export inverts after the percentiles
  'stardist-dark': { family: 'stardist', config: {}, invert: true },
};
/** Steps of the tiny models: enough for each family to predict objects on the synthetic image. */
export const TINY_STEPS = 100;

/** A 96x96 synthetic image (raw intensities 0..255-ish) with its dense and sparse labels. */
export function syntheticImage(seed = 5): { image: Image2D; dense: Labels2D; sparse: Labels2D } {
  const b = makeBlobs({ height: 96, width: 96, count: 14, minRadius: 5, maxRadius: 8, seed });
  const image = { ...b.image, data: b.image.data.map((v) => Math.round(Math.min(255, Math.max(0, 200 * v + 10)))) };
  return { image, dense: b.labels, sparse: sparsify(b.labels, (id) => id % 2 === 1) };
}

const FAMILY_CONFIG: Record<FamilyName, Record<string, unknown>> = {
  stardist: { nRays: 16 },
  cellpose: { niter: 50 },
  elephant: {},
};

/** A depth-2, 16-filter model trained `steps` steps on the synthetic image (`config` overrides the family's). */
export async function tinyTrainedModel(family: FamilyName, steps = TINY_STEPS, config: Record<string, unknown> = {}): Promise<SegmentationModel> {
  const { image, sparse } = syntheticImage();
  const { model } = await fitModel([{ image, labels: sparse }], {
    family,
    config: { unetDepth: 2, unetFilters: 16, ...FAMILY_CONFIG[family], ...config },
    train: { steps, batchSize: 2, patchSize: 64, learningRate: 3e-3, seed: 1 },
  });
  return model;
}

export function summary(steps: number, backend: string): TrainingSummary {
  const { sparse } = syntheticImage();
  let bg = 0,
    lab = 0;
  const ids = new Set<number>();
  for (const v of sparse.data) {
    if (v >= 0) lab++;
    if (v === 0) bg++;
    if (v > 0) ids.add(v);
  }
  return {
    images: 1,
    objects: ids.size,
    backgroundPixels: bg,
    labeledPixels: lab,
    totalPixels: sparse.data.length,
    steps,
    backend,
    date: new Date().toISOString(),
  };
}

async function main(out: string): Promise<void> {
  const info = await initBackend('auto');
  mkdirSync(out, { recursive: true });
  const { image, sparse } = syntheticImage();
  const all: Array<{ name: string; family: FamilyName; config: Record<string, unknown>; invert?: boolean }> = [
    ...FAMILIES.map((family) => ({ name: family as string, family, config: {} })),
    ...Object.entries(VARIANTS).map(([name, v]) => ({ name, ...v })),
  ];
  for (const { name, family, config, invert } of all) {
    const model = await tinyTrainedModel(family, TINY_STEPS, config);
    if (invert) applyAdaptation(model, { scale: 1, invert: true, objects: 0, foreground: null, background: null, scores: [], ms: 0 });
    // the dark variant's test image: the same scene, dark objects on a bright background
    const raw = invert ? { ...image, data: image.data.map((v) => 230 - v) } : image;
    const crop = pickTestCrop(raw, model.unet.config, sparse);
    const pkg = buildPackage(model, crop, { training: summary(TINY_STEPS, info.name), sparsecellVersion: 'test', authors: ['sparsecell tests'] });
    writeFileSync(join(out, `${name}.zip`), pkg.zip);
    process.stdout.write(`${name}: ${pkg.zip.length} bytes, ${new Set(pkg.labels.data).size - 1} objects in the test crop\n`);
  }
}

if (process.argv[1]?.endsWith('bioimageio-packages.js')) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node dist/scripts/bioimageio-packages.js OUT_DIR\n');
    process.exit(2);
  }
  main(out).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exit(1);
    },
  );
}
