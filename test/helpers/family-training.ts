/**
 * The shared "train a tiny model on half the objects" fixture and checks of every family's training tests:
 * a 64x64 synthetic image with 10 blobs, odd ids labeled (plus all background), even ids hidden.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { normalizeImage } from '../../server/imaging/normalize.js';
import { matchingWithPairs } from '../../server/metrics/matching.js';
import { createModel, disposeModel, type SegmentationModel } from '../../server/models/segmentation-model.js';
import { PatchSampler, type TrainingSample } from '../../server/training/sampler.js';
import { train } from '../../server/training/train.js';
import { predictImage } from '../../server/training/predict.js';
import type { Image2D } from '../../server/imaging/types.js';
import { unetDivisor } from '../../server/models/unet/config.js';

export const blobs = makeBlobs({ height: 64, width: 64, count: 10, minRadius: 4, maxRadius: 7, seed: 11 });
export const image = normalizeImage(blobs.image);
export const samples: TrainingSample[] = [{ image, labels: sparsify(blobs.labels, (id) => id % 2 === 1) }];

/** Depth-2, 16-filter model of a family with a fixed init seed. */
export const tinyModel = (family: string) => createModel(family, { unetDepth: 2, unetFilters: 16 }, { seed: 7 });

export const samplerFor = (m: SegmentationModel, batchSize = 2, patchSize = 64) =>
  new PatchSampler(samples, m.family, m.config, {
    patchSize,
    batchSize,
    seed: 3,
    augment: { flips: true, rot90: true, intensity: true },
    targetMargin: 16,
    divisor: unetDivisor(m.unet.config),
  });

/** Train 120 steps on the sparse labels and score: fraction of HIDDEN objects found and F1 over all objects. */
export async function overfitHidden(m: SegmentationModel): Promise<{ loss: number; foundHidden: number; f1: number; nPred: number; nTrue: number }> {
  const r = await train(m, samplerFor(m, 2, 64), { steps: 120, learningRate: 3e-3 });
  const inst = m.family.postprocess(await predictImage(m, image, { normalized: true }), m.config);
  const { stats, pairs } = matchingWithPairs(blobs.labels, inst.labels, 0.5);
  const hidden = Array.from({ length: blobs.count }, (_, i) => i + 1).filter((id) => id % 2 === 0);
  const foundHidden = hidden.filter((id) => pairs.some((p) => p.trueId === id)).length / hidden.length;
  return { loss: r.loss, foundHidden, f1: stats.f1, nPred: stats.n_pred, nTrue: stats.n_true };
}

/** The two training tests every family has: no tensor leaks, and overfitting finds the unlabeled objects. */
export function familyTrainingTests(family: string, checkMaps: (maps: Image2D) => void): void {
  it('train steps and prediction leak no tensors', async () => {
    const m = tinyModel(family);
    const s = samplerFor(m, 1, 32);
    await train(m, s, { steps: 1 });
    await predictImage(m, image, { normalized: true });
    const before = tf.memory().numTensors;
    await train(m, s, { steps: 2 });
    const maps = await predictImage(m, image, { normalized: true });
    expect(tf.memory().numTensors).to.equal(before);
    checkMaps(maps);
    disposeModel(m);
  });

  it('a tiny model overfits sparse labels and finds the UNLABELED objects too', async function () {
    this.timeout(180_000); // 120 wasm steps: ~30 s on an idle 2-core machine, more when it is shared
    const m = tinyModel(family);
    const r = await overfitHidden(m);
    this.test!.title +=
      ` [loss ${r.loss.toFixed(3)}, hidden objects found ${r.foundHidden.toFixed(2)}, F1 all ${r.f1.toFixed(2)}, n_pred ${r.nPred}/${r.nTrue}]`;
    expect(r.foundHidden).to.be.at.least(0.6);
    expect(r.f1).to.be.at.least(0.6);
    disposeModel(m);
  });
}
