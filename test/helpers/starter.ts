/**
 * A small starter model trained in the test process on synthetic nuclei-like blobs (full labels), written to a
 * temporary models folder exactly as `npm run pretrain` writes models/: <name>-<family>.scm plus a card
 * <name>-<family>.json with its sha256. The daemon and the CLI are pointed at it (ServerConfig.modelsDir,
 * SPARSECELL_MODELS_DIR), so the starter features are tested without the committed models.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBlobs, type SyntheticSample } from '../../scripts/synthetic.js';
import { normalizeImage } from '../../server/imaging/normalize.js';
import { createModel, deserializeModel, disposeModel, serializeModel } from '../../server/models/segmentation-model.js';
import { PatchSampler } from '../../server/training/sampler.js';
import { train } from '../../server/training/train.js';
import { sha256Hex } from '../../server/storage/starters.js';
import { tensorflowAvailable, useBackend } from '../tensor/helpers.js';

/** Thresholds stored in the test starter's meta (not the family defaults, so tests can see they are used). */
export const STARTER_THRESHOLDS = { probThresh: 0.45, nmsThresh: 0.35 };

/** The "pretraining" images: bright blobs on a dark background, dense labels. */
export const pretrainBlobs = (seed: number, size = 96): SyntheticSample =>
  makeBlobs({ height: size, width: size, count: 14, minRadius: 4, maxRadius: 7, seed });

/** Train a depth-2 / 16-filter model of `family` on full labels (in this process) and return its archive. */
export async function trainStarterArchive(family = 'stardist', steps = 150): Promise<Uint8Array> {
  await useBackend((await tensorflowAvailable()) ? 'tensorflow' : 'wasm');
  const m = createModel(family, { unetDepth: 2, unetFilters: 16 }, { seed: 5 });
  const samples = [1, 2, 3].map((s) => {
    const b = pretrainBlobs(100 + s);
    return { image: normalizeImage(b.image, m.normalization), labels: b.labels };
  });
  const sampler = new PatchSampler(samples, m.family, m.config, {
    patchSize: 64,
    batchSize: 4,
    seed: 1,
    augment: { flips: true, rot90: true, intensity: true },
    targetMargin: 16,
    divisor: 4,
  });
  await train(m, sampler, { steps, learningRate: 3e-3, lrFinal: 1e-3 });
  m.version = 1;
  m.meta = { thresholds: { ...STARTER_THRESHOLDS, chosenOn: 'test' }, scores: { test: 0 } };
  const bytes = serializeModel(m);
  disposeModel(m);
  return bytes;
}

/** Write an archive and its card into dir as `npm run pretrain` does; returns the card. */
export function writeStarter(dir: string, family: string, bytes: Uint8Array, name = 'nuclei'): Record<string, unknown> {
  const file = `${name}-${family}.scm`;
  writeFileSync(join(dir, file), bytes);
  const card = {
    name,
    family,
    description: `test ${family} starter trained on synthetic blobs`,
    file: `models/${file}`,
    bytes: bytes.length,
    sha256: sha256Hex(bytes),
    data: { testImages: 3 },
    thresholds: STARTER_THRESHOLDS,
    scores: { accuracy05: 0.9, f1: 0.95, pq: 0.8 },
  };
  writeFileSync(join(dir, `${name}-${family}.json`), JSON.stringify(card, null, 2));
  return card;
}

let cached: Promise<{ dir: string; archive: Uint8Array }> | undefined;

/** The same weights with other thresholds stored in the archive's meta. */
export function withThresholds(archive: Uint8Array, thresholds: { probThresh: number; nmsThresh: number }): Uint8Array {
  const m = deserializeModel(archive);
  m.meta = { ...m.meta, thresholds };
  const bytes = serializeModel(m);
  disposeModel(m);
  return bytes;
}

/**
 * One temp models folder, made once per test process: a StarDist-like "nuclei" starter, and "strict", the same
 * weights with a stored probability threshold of 0.999 (so tests can see that stored thresholds are the defaults).
 */
export function testStarterDir(): Promise<{ dir: string; archive: Uint8Array }> {
  cached ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparsecell-starters-'));
    const archive = await trainStarterArchive('stardist');
    writeStarter(dir, 'stardist', archive);
    writeStarter(dir, 'stardist', withThresholds(archive, { probThresh: 0.999, nmsThresh: STARTER_THRESHOLDS.nmsThresh }), 'strict');
    return { dir, archive };
  })();
  return cached;
}
