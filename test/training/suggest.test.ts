import { expect } from 'chai';
import { useBackend } from '../tensor/helpers.js';
import { image, samples, tinyModel } from '../helpers/family-training.js';
import { disposeModel } from '../../server/models/segmentation-model.js';
import { predictImage } from '../../server/training/predict.js';
import { suggestOnPlane } from '../../server/training/suggest.js';
import { train } from '../../server/training/train.js';
import { PatchSampler } from '../../server/training/sampler.js';

describe('training: suggestOnPlane (model.suggest in the worker and the study)', function () {
  this.timeout(120000);
  before(() => useBackend('wasm'));

  it('reuses the maps of a prediction just made for the same window (one network pass less), with the same answer', async () => {
    const m = tinyModel('stardist');
    const sampler = new PatchSampler(samples, m.family, m.config, {
      patchSize: 64,
      batchSize: 2,
      seed: 3,
      augment: { flips: true, rot90: true, intensity: true },
      targetMargin: 16,
      divisor: 4,
    });
    await train(m, sampler, { steps: 40, learningRate: 3e-3 });
    // the labeled objects, and background only in the top rows (the rest of the image is unlabeled)
    const labels = { ...samples[0].labels, data: samples[0].labels.data.map((v, i) => (v === 0 && i >= 8 * 64 ? -1 : v)) };
    const region: [number, number, number, number] = [0, 0, 64, 64];
    const alone = await suggestOnPlane(m, image, labels, region, { count: 20, probThresh: 0.2 });
    expect(alone.filter((s) => s.kind === 'object').length, `objects to suggest: ${JSON.stringify(alone)}`).to.be.greaterThan(0);
    for (const s of alone) {
      expect(s.score).to.be.within(0, 1);
      expect(s.region[0]).to.be.lessThan(s.region[2]);
    }
    const maps = await predictImage(m, image, { normalized: true, tileSize: 64 });
    const after = await suggestOnPlane(m, image, labels, region, { count: 20, probThresh: 0.2, plainMaps: { window: region, maps } });
    expect(after).to.deep.equal(alone);
    // the given maps are what it uses: empty maps leave no predicted object (only what the flipped pass finds)
    const empty = { ...maps, data: new Float32Array(maps.data.length) };
    const fromEmpty = await suggestOnPlane(m, image, labels, region, { count: 20, probThresh: 0.2, plainMaps: { window: region, maps: empty } });
    expect(fromEmpty).to.not.deep.equal(alone);
    // maps of another window are ignored
    const other = await suggestOnPlane(m, image, labels, region, { count: 20, probThresh: 0.2, plainMaps: { window: [0, 0, 32, 32], maps: empty } });
    expect(other).to.deep.equal(alone);
    disposeModel(m);
  });
});
