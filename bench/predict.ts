/**
 * npm run bench -- predict [--size 2048] [--backends tensorflow,tensorflow-eager,wasm] [--native 1] [--repeats 3]
 * model.predict of one size x size image on the CPU, per backend, next to Keras on the same machine: the
 * StarDist-like U-Net of the training recipe (server/recipe.ts: depth 3, 16 filters; 32 rays; untrained weights:
 * the network's cost does not depend on them) through predictImage as the compute worker runs it: on tensorflow a
 * TensorFlow graph session (training/graph-predict.ts) with up to 2048^2 per window, `tensorflow-eager` the op-by-op
 * path (what tensorflow ran before graph sessions; wasm runs it too) with 1280^2 windows. Post-processing is left out:
 * its cost follows the number of objects, which untrained weights make meaningless (the families bench times it on
 * real nuclei). Keras (bench/native/unet_keras.py) runs the same network on the whole image in one call, twice: the
 * raw network output (`networkMs`) and the maps sparsecell's predict returns (StarDist's sigmoid probability and ReLU
 * distances as one map, `activatedMs`). Figures are ms per megapixel; the goal compares sparsecell's time with
 * Keras' (<= 1.2x): `networkTimeVsKeras` against the raw output, `vsKerasActivated` against the same maps. Each
 * backend runs in its own process (one tfjs backend each). Both sides warm up on the full image once, then time
 * --repeats predictions and report the median (robust to a busy machine).
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';
import { createModel, disposeModel } from '../server/models/segmentation-model.js';
import { predictImage, predictTiling } from '../server/training/predict.js';
import { setGraphInference } from '../server/training/graph-predict.js';
import { computedPixels } from '../server/imaging/tiling.js';
import { RECIPE } from '../server/recipe.js';
import { flag, log } from './helpers.js';

const NET = { nRays: 32, unetDepth: RECIPE.unetDepth, unetFilters: RECIPE.unetFilters };
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** tensorflow: the product's path (a TensorFlow graph session for images of >= 1 Mpx); tensorflow-eager: op by op, as before graphs. */
const BACKENDS: Record<string, BackendPreference> = { tensorflow: 'tfjs-node', 'tensorflow-eager': 'tfjs-node', wasm: 'wasm' };

/** One backend, in this process: warm-up on a small image, then the timed prediction. */
async function measure(backendName: string, size: number, repeats: number): Promise<Record<string, unknown>> {
  const backend = await initBackend(BACKENDS[backendName]);
  if (backendName === 'tensorflow-eager') setGraphInference(false);
  const model = createModel('stardist', NET, { seed: 1 });
  const data = Float32Array.from({ length: size * size }, (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.0011));
  const image = { height: size, width: size, channels: 1, data };
  const { graph, grid } = predictTiling(model, size, size);
  await predictImage(model, image, { normalized: true });
  const runs: number[] = [];
  let maps: Awaited<ReturnType<typeof predictImage>> | undefined;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    maps = await predictImage(model, image, { normalized: true });
    runs.push(performance.now() - t0);
  }
  const networkMs = median(runs);
  if (!maps) throw new Error('--repeats must be at least 1');
  if (maps.data.length !== size * size * model.unet.config.outputChannels) throw new Error('predictImage returned a map of the wrong size');
  disposeModel(model);
  const mpx = (size * size) / 1e6;
  return {
    backend,
    path: graph ? 'TensorFlow graph session' : 'eager',
    tiles: grid.tiles.length,
    computedPixelsRatio: computedPixels(grid) / (size * size),
    networkMs: Math.round(networkMs),
    runsMs: runs.map(Math.round),
    networkMsPerMpx: Math.round(networkMs / mpx),
    numTensorsAfter: tf.memory().numTensors,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const size = flag(args, 'size', 2048);
  const repeats = flag(args, 'repeats', 3);
  const i = args.indexOf('--backends');
  const names = (i >= 0 ? args[i + 1] : 'tensorflow,tensorflow-eager,wasm').split(',');
  const here = fileURLToPath(import.meta.url);
  const perBackend: Record<string, unknown> = {};
  for (const name of names) {
    if (!BACKENDS[name]) throw new Error(`--backends: unknown backend ${name} (${Object.keys(BACKENDS).join(', ')})`);
    log(`predict bench: ${size}x${size} on ${name}`);
    const r = spawnSync(process.execPath, [here, name, String(size), String(repeats)], { encoding: 'utf8', timeout: 1_800_000 });
    const line = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    perBackend[name] = r.status === 0 && line ? JSON.parse(line) : { error: (r.stderr || r.error?.message || '').slice(-1500) };
  }
  let native: Record<string, unknown> | undefined;
  if (flag(args, 'native', 1)) {
    log('Keras on the same image size');
    const script = path.join(process.cwd(), 'bench', 'native', 'unet_keras.py');
    const r = spawnSync(
      process.env.SPARSECELL_PYTHON ?? 'python3',
      [
        script,
        ...['--depth', String(NET.unetDepth), '--filters', String(NET.unetFilters), '--batch', '1', '--size', '64'],
        ...['--out-channels', String(NET.nRays + 1), '--steps', '1', '--predict', String(size), '--predict-repeats', String(repeats)],
      ],
      { encoding: 'utf8', timeout: 1_800_000 },
    );
    const line = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    if (r.status === 0 && line) {
      const k = JSON.parse(line) as { predictMs: number; predictActivatedMs: number; tensorflow: string };
      const mpx = (size * size) / 1e6;
      native = {
        tensorflow: k.tensorflow,
        networkMs: Math.round(k.predictMs),
        networkMsPerMpx: Math.round(k.predictMs / mpx),
        activatedMs: Math.round(k.predictActivatedMs),
        activatedMsPerMpx: Math.round(k.predictActivatedMs / mpx),
      };
    } else native = { error: (r.stderr || r.error?.message || '').slice(-1500) };
  }
  const ratio: Record<string, number> = {};
  const ratioActivated: Record<string, number> = {};
  const r2 = (v: number) => Math.round(v * 100) / 100;
  for (const [name, v] of Object.entries(perBackend) as [string, { networkMs?: number }][]) {
    if (native?.networkMs && v.networkMs) ratio[name] = r2(v.networkMs / (native.networkMs as number));
    if (native?.activatedMs && v.networkMs) ratioActivated[name] = r2(v.networkMs / (native.activatedMs as number));
  }
  const result = {
    image: [size, size],
    model: `stardist, U-Net depth ${NET.unetDepth}, ${NET.unetFilters} filters, ${NET.nRays} rays (the training recipe)`,
    repeats,
    perBackend,
    keras: native,
    networkTimeVsKeras: ratio,
    vsKerasActivated: ratioActivated,
    goal: { networkTimeVsKeras: 1.2, computedPixelsRatio: 1.3 },
  };
  log(JSON.stringify(result, null, 2));
  return result;
}

// Child process: `node dist/bench/predict.js BACKEND SIZE` prints one JSON line.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  measure(process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 1)).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
