/**
 * `npm run bench -- suggest-speed [--size 512] [--repeats 5] [--tta 1] [--backend B]`: the time of one suggestion
 * (what model.suggest runs in the compute worker: the view's prediction, its flipped prediction and the ranking)
 * on a size² view, next to a plain prediction of the same view, and of a suggestion right after that prediction
 * (model.predict or a live push first: the worker reuses its network pass). The model is the shipped StarDist-like starter
 * (models/nuclei-stardist.scm); the view is a synthetic blob image with a few labeled objects. Goal: ≤ 1 s on the CPU.
 */
import { join } from 'node:path';
import { makeBlobs } from '../scripts/synthetic.js';
import { readBytes } from '../server/storage/dataset.js';
import { deserializeModel, disposeModel } from '../server/models/segmentation-model.js';
import { normalizeImage } from '../server/imaging/normalize.js';
import { suggestOnPlane } from '../server/training/suggest.js';
import { predictImage } from '../server/training/predict.js';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';
import { RESULTS_DIR } from './run.js';
import { flag, log, stats } from './helpers.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const size = flag(args, 'size', 512);
  const repeats = flag(args, 'repeats', 5);
  const tta = flag(args, 'tta', 1);
  const b = args.indexOf('--backend');
  const info = await initBackend((b >= 0 ? args[b + 1] : 'auto') as BackendPreference);
  const model = deserializeModel(readBytes(join(RESULTS_DIR, '..', '..', 'models', 'nuclei-stardist.scm')));
  const blobs = makeBlobs({ height: size, width: size, count: Math.round((size * size) / 1500), minRadius: 5, maxRadius: 10, seed: 5 });
  const plane = normalizeImage(blobs.image, model.normalization);
  // A person labeled the first 4 objects and a background strip on top.
  const labels = { height: size, width: size, data: new Int32Array(size * size).fill(-1) };
  for (let i = 0; i < labels.data.length; i++) {
    const v = blobs.labels.data[i];
    if (v > 0 && v <= 4) labels.data[i] = v;
    else if (v === 0 && i < 24 * size) labels.data[i] = 0;
  }
  const region: [number, number, number, number] = [0, 0, size, size];
  const predictMs: number[] = [],
    suggestMs: number[] = [],
    afterMs: number[] = [];
  let n = 0;
  for (let r = 0; r <= repeats; r++) {
    const t0 = performance.now();
    const maps = await predictImage(model, plane, { normalized: true, tileSize: size });
    model.family.postprocess(maps, model.config);
    const t1 = performance.now();
    const after = await suggestOnPlane(model, plane, labels, region, { tta, plainMaps: { window: region, maps } });
    const t2 = performance.now();
    const s = await suggestOnPlane(model, plane, labels, region, { tta });
    const t3 = performance.now();
    n = s.length;
    if (JSON.stringify(after) !== JSON.stringify(s)) throw new Error('a suggestion after a prediction differs from one alone');
    if (r === 0) continue; // warm-up
    predictMs.push(t1 - t0);
    afterMs.push(t2 - t1);
    suggestMs.push(t3 - t2);
    log(
      `repeat ${r}: predict ${(t1 - t0).toFixed(0)} ms, suggest after it ${(t2 - t1).toFixed(0)} ms, suggest alone ${(t3 - t2).toFixed(0)} ms (${n} suggestions)`,
    );
  }
  disposeModel(model);
  const sug = stats(afterMs);
  return {
    backend: info,
    size,
    tta,
    model: 'models/nuclei-stardist.scm',
    suggestions: n,
    predictMs: stats(predictMs),
    suggestAfterPredictMs: sug,
    suggestAloneMs: stats(suggestMs),
    goal: { suggestAfterPredictMsP50AtMost: 1000, met: sug.p50 <= 1000 },
  };
}
