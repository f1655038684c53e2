import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend } from '../tensor/helpers.js';
import { createModel, disposeModel } from '../../server/models/segmentation-model.js';
import { getUNetWeights } from '../../server/models/unet/unet.js';
import { PatchSampler } from '../../server/training/sampler.js';
import { train } from '../../server/training/train.js';
import { splitBatch } from '../../server/training/batch-tensors.js';
import type { Batch } from '../../server/training/sampler.js';
import { normalizeImage } from '../../server/imaging/normalize.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';

describe('data-parallel training (worker threads)', () => {
  before(() => useBackend('wasm'));

  it('splitBatch keeps every sample once', () => {
    const b: Batch = { batchSize: 3, height: 1, width: 2, x: Float32Array.from([1, 2, 3, 4, 5, 6]), xChannels: 1,
      target: new Float32Array(12), targetChannels: 2, weight: new Float32Array(6), weightChannels: 1 };
    const parts = splitBatch(b, 2);
    expect(parts.map((p) => p.batchSize)).to.deep.equal([2, 1]);
    expect(Array.from(parts[1].x)).to.deep.equal([5, 6]);
    expect(parts[0].target.length).to.equal(8);
  });

  it('2 workers on a batch of two identical patches = 1 worker (same weights after 2 steps), no leaks', async () => {
    const s = makeBlobs({ height: 32, width: 32, count: 4, seed: 8 });
    const samples = [{ image: normalizeImage(s.image), labels: sparsify(s.labels, (id) => id !== 1) }];
    const results: Float32Array[][] = [];
    const before = tf.memory().numTensors;
    for (const workers of [1, 2]) {
      const m = createModel('stardist', { nRays: 8, unetDepth: 1, unetFilters: 4 }, { seed: 2 });
      const sampler = new PatchSampler(samples, m.family, m.config, { patchSize: 16, batchSize: 1, seed: 5, augment: { flips: false, rot90: false, intensity: false }, targetMargin: 4, divisor: 2 });
      const source = { next: () => { const one = sampler.next(); const two = (a: Float32Array) => { const o = new Float32Array(2 * a.length); o.set(a); o.set(a, a.length); return o; };
        return { ...one, batchSize: 2, x: two(one.x), target: two(one.target), weight: two(one.weight) }; } };
      const r = await train(m, source, { steps: 2, workers, learningRate: 1e-2 });
      expect(r.steps).to.equal(2);
      results.push(getUNetWeights(m.unet).map((w) => w.data));
      disposeModel(m);
    }
    expect(tf.memory().numTensors).to.equal(before);
    let worst = 0;
    results[0].forEach((w, i) => w.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - results[1][i][j])); }));
    expect(worst).to.be.below(1e-5);
  });
});
