/**
 * Train-step and prediction speed of the U-Net (default depth 3, 32 filters, StarDist head with 32 rays),
 * side by side with native TensorFlow/Keras running the same architecture (bench/native/unet_keras.py),
 * both measured in the same run. Writes bench/results/train-step.json.
 *
 *   run({ batch: 4, size: 256, steps: 3, predictSize: 1024, native: true , python: 'python3' })
 *   npm run bench -- train-step --batch 4 --size 256 --steps 3 --predict-size 1024 [--no-native] [--backend B]
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';
import { createModel, disposeModel } from '../server/models/segmentation-model.js';
import { unetMacsPerPixel } from '../server/models/unet/config.js';
import { unetForward } from '../server/models/unet/unet.js';
import { train } from '../server/training/train.js';
import { predictImage } from '../server/training/predict.js';
import type { Batch, BatchSource } from '../server/training/sampler.js';

export interface TrainStepBenchArgs {
  batch?: number;
  size?: number;
  steps?: number;
  depth?: number;
  filters?: number;
  nRays?: number;
  predictSize?: number;
  backend?: BackendPreference;
  /** Also run native TensorFlow (needs `pip install tensorflow-cpu`). */
  native?: boolean;
  python?: string;
  /** Where to write the JSON (default bench/results/train-step.json next to this file's source tree). */
  out?: string;
}

function repoRoot(): string {
  // compiled to <out>/bench/train-step.js; the source tree is the cwd when run through npm scripts
  return process.cwd();
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `npm run bench -- train-step --batch 4 …` passes its flags as strings; a direct caller passes the object. */
export function parseTrainStepArgs(argv: string[]): TrainStepBenchArgs {
  const { values: f } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      batch: { type: 'string' },
      size: { type: 'string' },
      steps: { type: 'string' },
      depth: { type: 'string' },
      filters: { type: 'string' },
      'n-rays': { type: 'string' },
      'predict-size': { type: 'string' },
      backend: { type: 'string' },
      'no-native': { type: 'boolean' },
      python: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const n = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw new Error(`--${name} must be a non-negative integer (got "${v}")`);
    return x;
  };
  return {
    batch: n(f.batch, 'batch'),
    size: n(f.size, 'size'),
    steps: n(f.steps, 'steps'),
    depth: n(f.depth, 'depth'),
    filters: n(f.filters, 'filters'),
    nRays: n(f['n-rays'], 'n-rays'),
    predictSize: n(f['predict-size'], 'predict-size'),
    backend: f.backend as BackendPreference | undefined,
    native: !f['no-native'],
    python: f.python,
    out: f.out,
  };
}

export async function run(argsOrArgv: TrainStepBenchArgs | string[] = {}): Promise<object> {
  const args = Array.isArray(argsOrArgv) ? parseTrainStepArgs(argsOrArgv) : argsOrArgv;
  const B = args.batch ?? 4,
    S = args.size ?? 256,
    steps = args.steps ?? 3;
  const depth = args.depth ?? 3,
    filters = args.filters ?? 32,
    nRays = args.nRays ?? 32;
  const P = args.predictSize ?? 1024;
  const backend = await initBackend(args.backend ?? 'auto');
  const model = createModel('stardist', { nRays, unetDepth: depth, unetFilters: filters }, { seed: 1 });
  const C = 1 + nRays;
  const macs = unetMacsPerPixel(model.unet.config);
  const fwdGflop = (2 * macs * B * S * S) / 1e9;
  const stepGflop = 3 * fwdGflop; // forward + input gradient + filter gradient

  // a fixed synthetic batch (the sampler's cost is not part of this benchmark)
  const r = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  const batch: Batch = {
    batchSize: B,
    height: S,
    width: S,
    x: r(B * S * S, (i) => Math.sin(i * 0.37)),
    xChannels: 1,
    target: r(B * S * S * C, (i) => (i % C === 0 ? (i % 7) / 7 : 3 + (i % 5))),
    targetChannels: C,
    weight: r(B * S * S * 2, (i) => (i % 2 === 0 ? 1 : (i % 3) / 2)),
    weightChannels: 2,
  };
  const source: BatchSource = { next: () => batch };
  const stepMs: number[] = [];
  let last = Date.now();
  await train(model, source, { steps: 1 }); // warm-up: kernel setup, heap growth
  last = Date.now();
  await train(
    model,
    source,
    { steps },
    {
      onProgress: () => {
        const now = Date.now();
        stepMs.push(now - last);
        last = now;
      },
    },
  );
  const ours: Record<string, unknown> = {
    backend,
    stepMs: median(stepMs),
    stepMsAll: stepMs,
    stepGflop,
    effectiveGflops: stepGflop / (median(stepMs) / 1000),
  };

  if (P > 0) {
    const img = { height: P, width: P, channels: 1, data: r(P * P, (i) => Math.sin(i * 0.37)) };
    await predictImage(model, { height: 64, width: 64, channels: 1, data: img.data.subarray(0, 64 * 64) }, { normalized: true });
    let t0 = Date.now();
    await predictImage(model, img, { normalized: true, tileSize: P });
    ours.predictMsWhole = Date.now() - t0;
    t0 = Date.now();
    await predictImage(model, img, { normalized: true });
    ours.predictMsTiled512 = Date.now() - t0;
    ours.predictGflop = (2 * macs * P * P) / 1e9;
    // The network alone, which is what the Keras side times (model.predict); the figures above add
    // normalisation checks, tiling and the family's post-processing (polygon NMS for StarDist).
    const xT = tf.tensor4d(img.data, [1, P, P, 1]);
    const fwd = () => {
      const y = unetForward(model.unet, xT);
      const d = y.dataSync();
      y.dispose();
      return d.length;
    };
    fwd();
    t0 = Date.now();
    fwd();
    ours.predictMsNetwork = Date.now() - t0;
    xT.dispose();
  }
  disposeModel(model);
  ours.numTensorsAfter = tf.memory().numTensors;

  let native: Record<string, unknown> | undefined;
  if (args.native !== false) {
    const script = path.join(repoRoot(), 'bench', 'native', 'unet_keras.py');
    const res = spawnSync(
      args.python ?? process.env.SPARSECELL_PYTHON ?? 'python3',
      [
        script,
        '--depth',
        String(depth),
        '--filters',
        String(filters),
        '--batch',
        String(B),
        '--size',
        String(S),
        '--out-channels',
        String(C),
        '--steps',
        String(steps),
        '--predict',
        String(P),
      ],
      { encoding: 'utf8', timeout: 900_000 },
    );
    if (res.status === 0) {
      const line =
        res.stdout
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .pop() ?? '{}';
      native = JSON.parse(line) as Record<string, unknown>;
      native.effectiveGflops = stepGflop / ((native.stepMs as number) / 1000);
    } else {
      native = { error: (res.error?.message ?? res.stderr ?? '').slice(-2000) };
    }
  }

  const result = {
    bench: 'train-step',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg() },
    config: { batch: B, size: S, depth, filters, nRays, steps, predictSize: P },
    ours,
    native,
    ratio:
      native && typeof native.stepMs === 'number'
        ? {
            trainSpeedVsNative: (native.stepMs as number) / (ours.stepMs as number),
            predictSpeedVsNative:
              typeof native.predictMs === 'number' && typeof ours.predictMsNetwork === 'number'
                ? (native.predictMs as number) / (ours.predictMsNetwork as number)
                : undefined,
          }
        : undefined,
  };
  const out = args.out ?? path.join(repoRoot(), 'bench', 'results', 'train-step.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  return result;
}

// `node dist/bench/train-step.js '{"steps":2}'` runs it directly.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  run(process.argv[2] ? JSON.parse(process.argv[2]) : {}).then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'));
}
