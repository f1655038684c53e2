/**
 * `npm run bench -- suggest-study [options]`: the `suggested` ordering against minmax and random at equal object
 * counts and equal training steps (server/study/suggest-study.ts). Files (JSON, Vega-Lite, SVG, PNG) go to --dir
 * (default suggest-study-results); bench/run.ts writes the returned summary to bench/results/suggest-study.json.
 *
 *   --images DIR --masks DIR   dense data (default ../shared/data/dsb2018-train)
 *   --seeds 1,2,3 --ks 4,16 --steps-per-round N --rounds N --per-image N --tta N --reasons a,b
 *   --limit-train N --limit-test N --holdout N --val N --config JSON --patch N --batch N --lr X --backend B
 *   --synthetic N   instead of --images/--masks: N seeded 96x96 blob images with 24 objects each (a quick check)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeBlobs } from '../scripts/synthetic.js';
import { encodeTiff } from '../server/imaging/tiff.js';
import { parseFlags } from '../server/cli/args.js';
import { DEFAULT_DATA } from '../server/cli/study.js';
import { runSuggestStudy } from '../server/study/suggest-study.js';
import type { SuggestReason } from '../server/imaging/suggest.js';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';
import { log } from './helpers.js';

const FLAGS = {
  images: { type: 'string' },
  masks: { type: 'string' },
  dir: { type: 'string' },
  seeds: { type: 'string' },
  ks: { type: 'string' },
  'steps-per-round': { type: 'string' },
  rounds: { type: 'string' },
  'per-image': { type: 'string' },
  tta: { type: 'string' },
  reasons: { type: 'string' },
  'limit-train': { type: 'string' },
  'limit-test': { type: 'string' },
  val: { type: 'string' },
  config: { type: 'string' },
  patch: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  backend: { type: 'string' },
  synthetic: { type: 'string' },
  holdout: { type: 'string' },
} as const;

/** N seeded synthetic blob images and their dense masks under dir/synthetic. */
function syntheticData(dir: string, n: number): { images: string; masks: string } {
  const images = join(dir, 'synthetic', 'images'),
    masks = join(dir, 'synthetic', 'masks');
  mkdirSync(images, { recursive: true });
  mkdirSync(masks, { recursive: true });
  for (let i = 0; i < n; i++) {
    const b = makeBlobs({ height: 96, width: 96, count: 24, minRadius: 4, maxRadius: 7, seed: 1000 + i });
    const name = `blobs${String(i).padStart(3, '0')}.tif`;
    writeFileSync(join(images, name), encodeTiff({ dtype: 'float32', height: 96, width: 96, data: b.image.data }));
    writeFileSync(join(masks, name), encodeTiff({ dtype: 'uint16', height: 96, width: 96, data: Uint16Array.from(b.labels.data) }));
  }
  return { images, masks };
}

const num = (v: unknown) => (v === undefined ? undefined : Number(v));
const list = (v: unknown) => (v === undefined ? undefined : String(v).split(',').map(Number));

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const f = parseFlags(args, FLAGS) as Record<string, unknown>;
  const backend = (f.backend as string | undefined) ?? 'auto';
  if (!['auto', 'tfjs-node', 'tfjs-node-gpu', 'wasm'].includes(backend)) throw new Error(`--backend ${backend}: use auto, tfjs-node, tfjs-node-gpu or wasm`);
  const info = await initBackend(backend as BackendPreference);
  const train: Record<string, number> = {};
  if (f.patch !== undefined) train.patchSize = Number(f.patch);
  if (f.batch !== undefined) train.batchSize = Number(f.batch);
  if (f.lr !== undefined) train.learningRate = Number(f.lr);
  const t0 = Date.now();
  const outDir = (f.dir as string | undefined) ?? 'suggest-study-results';
  const synth = f.synthetic !== undefined ? syntheticData(outDir, Number(f.synthetic)) : undefined;
  const r = await runSuggestStudy({
    imagesDir: synth?.images ?? (f.images as string | undefined) ?? join(DEFAULT_DATA, 'images'),
    masksDir: synth?.masks ?? (f.masks as string | undefined) ?? join(DEFAULT_DATA, 'masks'),
    outDir,
    seeds: list(f.seeds),
    ks: list(f.ks),
    stepsPerRound: num(f['steps-per-round']),
    roundsPerK: num(f.rounds),
    perImage: num(f['per-image']),
    tta: num(f.tta),
    reasons: f.reasons === undefined ? undefined : (String(f.reasons).split(',') as SuggestReason[]),
    limitTrain: num(f['limit-train']),
    limitTest: num(f['limit-test']),
    holdout: num(f.holdout),
    val: num(f.val),
    config: f.config === undefined ? undefined : (JSON.parse(String(f.config)) as Record<string, unknown>),
    train,
    backend: info.name,
    onEvent: (e) => log(`seed ${e.seed} ${e.ordering} k=${e.k}: ${e.message}`),
  });
  return { backend: info, seconds: Math.round((Date.now() - t0) / 1000), ...r };
}
