/**
 * npm run bench -- families [--steps 8] [--images 20] [--patch 128] [--batch 8] [--depth 3] [--filters 16] [--grid 1|2] [--backend B]
 * (defaults: the recipe, server/recipe.ts). Wall time and process CPU time per step are both recorded: on a busy
 * machine the wall time grows, the CPU time much less.
 * Training step time per model family on DSB2018 patches (sampling and target computation included, as in real
 * training), same U-Net for all: the cost side of "which family for which cells". The quality side is
 * `npm run bench -- quality --family F`. --grid 2 gives the StarDist-like family StarDist's grid (the others have none).
 */
import { join } from 'node:path';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';
import { RECIPE } from '../server/recipe.js';
import { familyNames } from '../server/models/registry.js';
import { createModel, disposeModel } from '../server/models/segmentation-model.js';
import { normalizeImage } from '../server/imaging/normalize.js';
import { createSampler, train } from '../server/training/train.js';
import { dsbSplit } from '../server/metrics/split.js';
import { loadDataset, listTiffs, sharedDataDir } from '../server/storage/dataset.js';
import { flag, log } from './helpers.js';
import { RESULTS_DIR } from './run.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const steps = flag(args, 'steps', 8),
    nImages = flag(args, 'images', 20);
  const patch = flag(args, 'patch', RECIPE.patchSize),
    batch = flag(args, 'batch', RECIPE.batchSize);
  const depth = flag(args, 'depth', RECIPE.unetDepth),
    filters = flag(args, 'filters', RECIPE.unetFilters),
    grid = flag(args, 'grid', 1);
  const bi = args.indexOf('--backend');
  const dsb = sharedDataDir(join(RESULTS_DIR, '..', '..'), 'dsb2018-train');
  if (!dsb) throw new Error('../shared/data/dsb2018-train is missing');
  const backend = await initBackend((bi >= 0 ? args[bi + 1] : 'auto') as BackendPreference);
  const names = dsbSplit(listTiffs(join(dsb, 'images')), 0, 50).train.slice(0, nImages);
  const data = loadDataset(join(dsb, 'images'), join(dsb, 'masks'), 'signed', names);
  const families: Record<string, unknown> = {};
  for (const family of familyNames()) {
    const model = createModel(family, { unetDepth: depth, unetFilters: filters, ...(family === 'stardist' && grid !== 1 ? { grid } : {}) });
    const samples = data.map((d) => ({ image: normalizeImage(d.image, model.normalization), labels: d.labels! }));
    const opts = { patchSize: patch, batchSize: batch, steps: 2 };
    await train(model, createSampler(model, samples, opts), opts); // warm-up
    const sampler = createSampler(model, samples, { ...opts, seed: 7 });
    let sampleMs = 0;
    const t0 = Date.now();
    for (let i = 0; i < steps; i++) {
      const s = Date.now();
      sampler.next();
      sampleMs += Date.now() - s;
    }
    const tTrain = Date.now(),
      cpu0 = process.cpuUsage();
    await train(model, createSampler(model, samples, { ...opts, seed: 7 }), { ...opts, steps });
    const stepMs = (Date.now() - tTrain) / steps;
    const cpu = process.cpuUsage(cpu0);
    families[family] = {
      msPerStep: Math.round(stepMs),
      cpuMsPerStep: Math.round((cpu.user + cpu.system) / 1000 / steps),
      samplingMsPerBatch: Math.round(sampleMs / steps),
      outputChannels: model.family.outputChannels(model.config),
    };
    log(`${family}: ${Math.round(stepMs)} ms/step (of which sampling + targets ~${Math.round(sampleMs / steps)} ms), ${Date.now() - t0} ms total`);
    disposeModel(model);
  }
  return { backend, unet: { depth, filters }, stardistGrid: grid, batch: `${batch}x${patch}x${patch}`, steps, families };
}
