import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { makeBlobs, sparsify } from '../../../scripts/synthetic.js';
import { normalizeImage } from '../../../server/imaging/normalize.js';
import { matchingWithPairs } from '../../../server/metrics/matching.js';
import type { CellposeConfig } from '../../../server/models/cellpose/config.js';
import { createModel, disposeModel, type SegmentationModel } from '../../../server/models/segmentation-model.js';
import { predictImage } from '../../../server/training/predict.js';
import { PatchSampler, type TrainingSample } from '../../../server/training/sampler.js';
import { train } from '../../../server/training/train.js';
import { useBackend } from '../../tensor/helpers.js';

describe('cellpose model (training)', () => {
  before(() => useBackend('wasm'));
  const blobs = makeBlobs({ height: 64, width: 64, count: 10, minRadius: 4, maxRadius: 7, seed: 11 });
  const image = normalizeImage(blobs.image);
  const sparse = sparsify(blobs.labels, (id) => id % 2 === 1);
  const samples: TrainingSample[] = [{ image, labels: sparse }];
  const tiny = () => createModel<CellposeConfig>('cellpose', { unetDepth: 2, unetFilters: 16 }, { seed: 7 });
  const sampler = (m: SegmentationModel<CellposeConfig>, batchSize: number, patchSize: number) => new PatchSampler(samples, m.family, m.config,
    { patchSize, batchSize, seed: 3, augment: { flips: true, rot90: true, intensity: true }, targetMargin: 16, divisor: 4 });

  it('train steps and prediction leak no tensors', async () => {
    const m = tiny();
    const s = sampler(m, 1, 32);
    await train(m, s, { steps: 1 });
    await predictImage(m, image, { normalized: true });
    const before = tf.memory().numTensors;
    await train(m, s, { steps: 2 });
    const maps = await predictImage(m, image, { normalized: true });
    expect(tf.memory().numTensors).to.equal(before);
    expect(maps.channels).to.equal(3);
    for (let i = 0; i < 64 * 64; i++) expect(maps.data[3 * i + 2]).to.be.within(0, 1);
    disposeModel(m);
  });

  it('a tiny model overfits sparse labels and finds the UNLABELED objects too', async function () {
    const m = tiny();
    const r = await train(m, sampler(m, 2, 64), { steps: 80, learningRate: 3e-3 });
    const maps = await predictImage(m, image, { normalized: true });
    const inst = m.family.postprocess(maps, m.config);
    const { stats: full, pairs } = matchingWithPairs(blobs.labels, inst.labels, 0.5);
    const hidden = Array.from({ length: blobs.count }, (_, i) => i + 1).filter((id) => id % 2 === 0);
    const foundHidden = hidden.filter((id) => pairs.some((p) => p.trueId === id)).length / hidden.length;
    this.test!.title += ` [loss ${r.loss.toFixed(3)}, hidden objects found ${foundHidden.toFixed(2)}, F1 all ${full.f1.toFixed(2)}, n_pred ${full.n_pred}/${full.n_true}]`;
    expect(foundHidden).to.be.at.least(0.6);
    expect(full.f1).to.be.at.least(0.6);
    disposeModel(m);
  });
});
