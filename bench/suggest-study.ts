/**
 * `npm run bench -- suggest-study [options]`: the `suggested` ordering against minmax and random at equal object
 * counts and equal training steps (server/study/suggest-study.ts). Files (JSON, Vega-Lite, SVG, PNG) go to --dir
 * (default suggest-study-results); bench/run.ts writes the returned summary to bench/results/suggest-study.json.
 *
 *   --images DIR --masks DIR   dense data (default ../shared/data/dsb2018-train)
 *   --seeds 1,2,3 --ks 4,16 --steps-per-round N --rounds N --per-image N --tta N --reasons a,b
 *   --limit-train N --limit-test N --val N --config JSON --patch N --batch N --lr X --backend B
 */
import { join } from 'node:path';
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
} as const;

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
  const r = await runSuggestStudy({
    imagesDir: (f.images as string | undefined) ?? join(DEFAULT_DATA, 'images'),
    masksDir: (f.masks as string | undefined) ?? join(DEFAULT_DATA, 'masks'),
    outDir: (f.dir as string | undefined) ?? 'suggest-study-results',
    seeds: list(f.seeds),
    ks: list(f.ks),
    stepsPerRound: num(f['steps-per-round']),
    roundsPerK: num(f.rounds),
    perImage: num(f['per-image']),
    tta: num(f.tta),
    reasons: f.reasons === undefined ? undefined : (String(f.reasons).split(',') as SuggestReason[]),
    limitTrain: num(f['limit-train']),
    limitTest: num(f['limit-test']),
    val: num(f.val),
    config: f.config === undefined ? undefined : (JSON.parse(String(f.config)) as Record<string, unknown>),
    train,
    backend: info.name,
    onEvent: (e) => log(`seed ${e.seed} ${e.ordering} k=${e.k}: ${e.message}`),
  });
  return { backend: info, seconds: Math.round((Date.now() - t0) / 1000), ...r };
}
