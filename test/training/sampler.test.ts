import { expect } from 'chai';
import { PatchSampler } from '../../server/training/sampler.js';
import { stardistFamily } from '../../server/models/stardist/model.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';

describe('patch sampler', () => {
  const config = stardistFamily.parseConfig({ nRays: 8 });
  const s = makeBlobs({ height: 50, width: 70, count: 8, seed: 4 });
  const opts = { patchSize: 32, batchSize: 3, seed: 1, augment: { flips: true, rot90: true, intensity: true }, targetMargin: 8, divisor: 4 };

  it('batches have the right shapes and every patch has labeled pixels', () => {
    // only a small labeled island: patches must find it
    const sparse = sparsify(
      s.labels,
      () => false,
      (y, x) => y >= 20 && y < 24 && x >= 60 && x < 64,
    );
    const sampler = new PatchSampler([{ image: s.image, labels: sparse }], stardistFamily, config, opts);
    for (let k = 0; k < 5; k++) {
      const b = sampler.next();
      expect([b.batchSize, b.height, b.width, b.xChannels, b.targetChannels, b.weightChannels]).to.deep.equal([3, 32, 32, 1, 9, 2]);
      for (let i = 0; i < 3; i++) {
        let labeled = 0;
        for (let p = 0; p < 32 * 32; p++) if (b.weight[(i * 32 * 32 + p) * 2] > 0) labeled++;
        expect(labeled).to.be.greaterThan(0);
      }
    }
  });

  it('without augmentation a patch equals the crop of the image and of whole-image targets', () => {
    const sampler = new PatchSampler([{ image: s.image, labels: s.labels }], stardistFamily, config, {
      ...opts,
      batchSize: 1,
      augment: { flips: false, rot90: false, intensity: false },
      targetMargin: 64,
    });
    const whole = stardistFamily.makeTargets(s.labels, config);
    const b = sampler.next();
    // find the patch position by matching the image
    let found: [number, number] | undefined;
    for (let y = 0; y <= 50 - 32 && !found; y++)
      for (let x = 0; x <= 70 - 32 && !found; x++)
        if (b.x[0] === s.image.data[y * 70 + x] && b.x[33] === s.image.data[(y + 1) * 70 + x + 1] && b.x[1023] === s.image.data[(y + 31) * 70 + x + 31])
          found = [y, x];
    expect(found).to.not.equal(undefined);
    const [y0, x0] = found!;
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 9; c++) expect(b.target[(y * 32 + x) * 9 + c]).to.be.closeTo(whole.target[((y0 + y) * 70 + x0 + x) * 9 + c], 1e-5);
  });

  it('weight multiplier scales every weight channel; empty labels are refused', () => {
    const mult = new Float32Array(50 * 70).fill(3);
    const sampler = new PatchSampler([{ image: s.image, labels: s.labels, weightMultiplier: mult }], stardistFamily, config, { ...opts, batchSize: 1 });
    const b = sampler.next();
    expect(Math.max(...b.weight)).to.equal(3);
    const none = sparsify(
      s.labels,
      () => false,
      () => false,
    );
    expect(() => new PatchSampler([{ image: s.image, labels: none }], stardistFamily, config, opts)).to.throw(/no labeled pixels/);
  });
});
