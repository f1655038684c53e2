import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Labels2D } from '../../../server/imaging/types.js';
import { makeTargets, starDistances } from '../../../server/models/stardist/targets.js';
import { parseConfig, STARDIST_DEFAULTS } from '../../../server/models/stardist/config.js';
import { normalizedInstanceEdt } from '../../../server/imaging/edt.js';
import { makeBlobs, sparsify } from '../../../scripts/synthetic.js';

const FIX = fileURLToPath(new URL('../../../../test/fixtures/stardist/targets.json', import.meta.url));

describe('models/stardist/config', () => {
  it('defaults', () => {
    expect(parseConfig({})).to.deep.equal({
      inputChannels: 1,
      unetDepth: 3,
      unetFilters: 16,
      correctionWeight: 10,
      nRays: 32,
      probThresh: 0.5,
      nmsThresh: 0.4,
      grid: 1,
    });
    expect(parseConfig(undefined)).to.deep.equal(STARDIST_DEFAULTS);
    expect(parseConfig({ nRays: 64, probThresh: 0.3 })).to.include({ nRays: 64, probThresh: 0.3 });
  });
  it('names the bad field', () => {
    expect(() => parseConfig({ nRays: 7 })).to.throw('config.nRays must be an integer in [8, 128]');
    expect(() => parseConfig({ nRays: 32.5 })).to.throw(/config\.nRays/);
    expect(() => parseConfig({ probThresh: 1 })).to.throw(/config\.probThresh must be a number in \(0, 1\)/);
    expect(() => parseConfig({ nmsThresh: 'x' })).to.throw(/config\.nmsThresh/);
    expect(() => parseConfig({ unetDepth: 0 })).to.throw(/config\.unetDepth/);
    expect(() => parseConfig({ nrays: 32 })).to.throw(/config\.nrays is not a StarDist option/);
    expect(() => parseConfig(5)).to.throw(/config must be an object/);
  });
});

describe('models/stardist/targets', () => {
  it('star distances and prob equal stardist (star_dist cpp, edt_prob) on the reference image', () => {
    const fx = JSON.parse(readFileSync(FIX, 'utf8'));
    const labels: Labels2D = { height: fx.labels.height, width: fx.labels.width, data: Int32Array.from(fx.labels.data) };
    const d = starDistances(labels, fx.n_rays);
    let maxErr = 0;
    for (let i = 0; i < d.length; i++) maxErr = Math.max(maxErr, Math.abs(d[i] - fx.star_dist[i]));
    expect(maxErr, 'star_dist max abs error').to.be.below(1e-3);
    const p = normalizedInstanceEdt(labels);
    let maxP = 0;
    for (let i = 0; i < p.length; i++) maxP = Math.max(maxP, Math.abs(p[i] - fx.edt_prob[i]));
    expect(maxP, 'edt_prob max abs error').to.be.below(1e-5);
  });

  it('layout: [prob, d_1..d_n] and [wProb, wDist]', () => {
    const { labels } = makeBlobs({ height: 32, width: 32, count: 4, seed: 9 });
    const t = makeTargets(labels, { nRays: 16 });
    expect(t.targetChannels).to.equal(17);
    expect(t.weightChannels).to.equal(2);
    expect(t.target.length).to.equal(32 * 32 * 17);
    expect(t.weight.length).to.equal(32 * 32 * 2);
    const d = starDistances(labels, 16);
    const p = normalizedInstanceEdt(labels);
    for (let i = 0; i < 32 * 32; i++) {
      expect(t.target[i * 17]).to.equal(p[i]);
      for (let r = 0; r < 16; r++) expect(t.target[i * 17 + 1 + r]).to.equal(d[i * 16 + r]);
      expect(t.weight[2 * i]).to.equal(1);
      expect(t.weight[2 * i + 1]).to.equal(labels.data[i] > 0 ? p[i] : 0);
    }
  });

  it('unlabeled pixels get weight exactly 0 in both channels (and target 0)', () => {
    const { labels } = makeBlobs({ height: 48, width: 48, count: 10, seed: 11 });
    const sparse = sparsify(
      labels,
      (id) => id % 2 === 0,
      (y, x) => (x + y) % 3 === 0,
    );
    const t = makeTargets(sparse, { nRays: 32 });
    let unl = 0;
    for (let i = 0; i < 48 * 48; i++) {
      const v = sparse.data[i];
      if (v === -1) {
        unl++;
        expect(t.weight[2 * i]).to.equal(0);
        expect(t.weight[2 * i + 1]).to.equal(0);
        for (let c = 0; c < 33; c++) expect(t.target[i * 33 + c]).to.equal(0);
      } else if (v === 0) {
        expect(t.weight[2 * i]).to.equal(1);
        expect(t.weight[2 * i + 1]).to.equal(0);
      } else {
        expect(t.weight[2 * i]).to.equal(1);
        expect(t.weight[2 * i + 1]).to.be.greaterThan(0);
      }
    }
    expect(unl).to.be.greaterThan(500);
  });

  it('a labeled object gets the same targets whether its neighbours are labeled or not', () => {
    const { labels } = makeBlobs({ height: 40, width: 40, count: 6, seed: 13 });
    const sparse = sparsify(
      labels,
      (id) => id === 1,
      () => false,
    );
    const a = makeTargets(labels, { nRays: 32 }),
      b = makeTargets(sparse, { nRays: 32 });
    for (let i = 0; i < 40 * 40; i++) {
      if (labels.data[i] !== 1) continue;
      for (let c = 0; c < 33; c++) expect(b.target[i * 33 + c]).to.equal(a.target[i * 33 + c]);
    }
  });
});

describe('stardist targets: roi', () => {
  it('inside the roi, targets equal the full computation; ray casting is skipped outside', async () => {
    const { makeBlobs } = await import('../../../scripts/synthetic.js');
    const { makeTargets } = await import('../../../server/models/stardist/targets.js');
    const b = makeBlobs({ height: 48, width: 48, count: 10, seed: 2 });
    const full = makeTargets(b.labels, { nRays: 16 });
    const part = makeTargets(b.labels, { nRays: 16 }, [8, 8, 40, 40]);
    const tc = full.targetChannels;
    let outsideNonZeroDist = 0;
    for (let y = 0; y < 48; y++)
      for (let x = 0; x < 48; x++) {
        const o = (y * 48 + x) * tc;
        const inRoi = y >= 8 && y < 40 && x >= 8 && x < 40;
        if (inRoi) expect([...part.target.subarray(o, o + tc)]).to.deep.equal([...full.target.subarray(o, o + tc)]);
        else for (let r = 1; r < tc; r++) if (part.target[o + r] !== 0) outsideNonZeroDist++;
      }
    expect(outsideNonZeroDist).to.equal(0);
    expect([...part.weight]).to.deep.equal([...full.weight]);
  });
});
