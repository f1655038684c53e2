import { expect } from 'chai';
import { makeBlobs, sparsify } from '../../../scripts/synthetic.js';
import type { Image2D, Labels2D } from '../../../server/imaging/types.js';
import { CELLPOSE_DEFAULTS, parseConfig } from '../../../server/models/cellpose/config.js';
import { countObjects } from '../../../server/imaging/labels.js';
import { paintPolygon } from '../../../server/imaging/polygon.js';
import { matching } from '../../../server/metrics/matching.js';
import { fillHolesAndRemoveSmall, toInstances } from '../../../server/models/cellpose/instances.js';
import { postprocess } from '../../../server/models/cellpose/postprocess.js';
import { makeTargets, masksToFlows } from '../../../server/models/cellpose/targets.js';

/** True maps [flowY, flowX, cellprob] of dense labels, as `activate` would produce them. */
function trueMaps(labels: Labels2D): Image2D {
  const t = makeTargets(labels, CELLPOSE_DEFAULTS);
  return { height: labels.height, width: labels.width, channels: 3, data: t.target };
}

describe('cellpose config', () => {
  it('has the documented defaults', () => {
    const c = parseConfig({});
    expect(c).to.include({ inputChannels: 1, unetDepth: 3, unetFilters: 16, correctionWeight: 10 });
    expect(c).to.include({ cellprobThresh: 0, flowThresh: 0.4, minSize: 15, niter: 200, flowScale: 5 });
    expect(c.diameter).to.equal(undefined);
    expect(parseConfig(undefined)).to.deep.equal(c);
  });
  it('merges valid fields and names the bad ones', () => {
    expect(parseConfig({ niter: 50, diameter: 30 })).to.include({ niter: 50, diameter: 30 });
    expect(() => parseConfig({ niter: 0 })).to.throw(/niter/);
    expect(() => parseConfig({ flowScale: -1 })).to.throw(/flowScale/);
    expect(() => parseConfig({ minSize: 1.5 })).to.throw(/minSize/);
    expect(() => parseConfig({ diameter: 'big' })).to.throw(/diameter/);
    expect(() => parseConfig({ nitter: 3 })).to.throw(/nitter/);
    expect(() => parseConfig(7)).to.throw(/object/);
    expect(() => parseConfig({ unetDepth: 9 })).to.throw(/unetDepth/);
    expect(parseConfig({ niter: undefined }).niter).to.equal(200);
  });
});

describe('cellpose targets', () => {
  it('gives unit flows pointing towards the centre of a disk', () => {
    const H = 31,
      W = 31,
      data = new Int32Array(H * W);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((y - 15) ** 2 + (x - 15) ** 2 <= 100) data[y * W + x] = 3;
    const f = masksToFlows({ height: H, width: W, data });
    let inward = 0,
      total = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (data[i] === 0) {
          expect(f.flowY[i]).to.equal(0);
          expect(f.flowX[i]).to.equal(0);
          continue;
        }
        if (y === 15 && x === 15) continue;
        const n = Math.hypot(f.flowY[i], f.flowX[i]);
        expect(n).to.be.closeTo(1, 1e-4);
        total++;
        if (f.flowY[i] * (15 - y) + f.flowX[i] * (15 - x) > 0.7 * Math.hypot(15 - y, 15 - x)) inward++;
      }
    expect(inward / total).to.be.greaterThan(0.95);
  });

  it('weights: wFlow on instances, wProb on labeled pixels, exactly 0 on unlabeled', () => {
    const { labels } = makeBlobs({ height: 64, width: 64, count: 8, seed: 3 });
    const sparse = sparsify(
      labels,
      (id) => id % 2 === 0,
      (y) => y < 32,
    );
    const t = makeTargets(sparse, CELLPOSE_DEFAULTS);
    expect(t.targetChannels).to.equal(3);
    expect(t.weightChannels).to.equal(2);
    expect(t.target.length).to.equal(64 * 64 * 3);
    expect(t.weight.length).to.equal(64 * 64 * 2);
    for (let i = 0; i < 64 * 64; i++) {
      const v = sparse.data[i];
      const w = [t.weight[2 * i], t.weight[2 * i + 1]];
      if (v < 0) {
        expect(w).to.deep.equal([0, 0]);
        expect([t.target[3 * i], t.target[3 * i + 1], t.target[3 * i + 2]]).to.deep.equal([0, 0, 0]);
      } else if (v === 0) {
        expect(w).to.deep.equal([0, 1]);
        expect(t.target[3 * i + 2]).to.equal(0);
      } else {
        expect(w).to.deep.equal([1, 1]);
        expect(t.target[3 * i + 2]).to.equal(1);
      }
    }
  });

  it('sparse labels: labeled objects get their dense targets, unlabeled objects stay untouched', () => {
    const { labels } = makeBlobs({ height: 64, width: 64, count: 8, seed: 5 });
    const sparse = sparsify(labels, (id) => id % 2 === 1);
    const dense = makeTargets(labels, CELLPOSE_DEFAULTS);
    const sp = makeTargets(sparse, CELLPOSE_DEFAULTS);
    for (let i = 0; i < 64 * 64; i++) {
      const id = labels.data[i];
      for (let c = 0; c < 3; c++) {
        if (id > 0 && id % 2 === 0) expect(sp.target[3 * i + c]).to.equal(0);
        else expect(sp.target[3 * i + c]).to.equal(dense.target[3 * i + c]);
      }
    }
  });
});

describe('cellpose instance helpers', () => {
  it('polygons rasterise back to their masks; scores are mean map values', () => {
    const H = 24,
      W = 24,
      data = new Int32Array(H * W),
      score = new Float32Array(H * W);
    for (let y = 2; y <= 6; y++)
      for (let x = 3; x <= 9; x++) {
        data[y * W + x] = 1;
        score[y * W + x] = 0.5;
      }
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        if ((y - 15) ** 2 + (x - 14) ** 2 <= 36) {
          data[y * W + x] = 2;
          score[y * W + x] = 1;
        }
    const out = toInstances(data, H, W, 2, score);
    expect(out.polygons.map((p) => p.id)).to.deep.equal([1, 2]);
    expect(out.polygons[0].score).to.be.closeTo(0.5, 1e-9);
    expect(out.polygons[1].score).to.be.closeTo(1, 1e-9);
    for (const p of out.polygons) {
      const r = { height: H, width: W, data: new Int32Array(H * W) };
      paintPolygon(r, p.points, 1);
      for (let i = 0; i < H * W; i++) expect(r.data[i] === 1, `id ${p.id} pixel ${i}`).to.equal(data[i] === p.id);
    }
  });

  it('fills holes and removes small masks', () => {
    const H = 20,
      W = 20,
      data = new Int32Array(H * W);
    for (let y = 2; y <= 10; y++) for (let x = 2; x <= 10; x++) data[y * W + x] = 7;
    for (let y = 5; y <= 7; y++) for (let x = 5; x <= 7; x++) data[y * W + x] = 0;
    data[15 * W + 15] = 9;
    const n = fillHolesAndRemoveSmall(data, H, W, 5);
    expect(n).to.equal(1);
    expect(data[6 * W + 6]).to.equal(1);
    expect(data[15 * W + 15]).to.equal(0);
    expect(data.reduce((s, v) => s + (v === 1 ? 1 : 0), 0)).to.equal(81);
  });
});

describe('cellpose round trip', () => {
  for (const seed of [1, 2, 3]) {
    it(`recovers the instances from true flows and cellprob (seed ${seed})`, () => {
      const { labels, count } = makeBlobs({ height: 128, width: 128, count: 25, minRadius: 4, maxRadius: 10, seed });
      const out = postprocess(trueMaps(labels), CELLPOSE_DEFAULTS);
      const m = matching(labels, out.labels, 0.5);
      expect(m.recall).to.be.at.least(0.95);
      expect(m.precision).to.be.at.least(0.95);
      expect(m.n_true).to.equal(count);
      expect(out.polygons.length).to.equal(countObjects(out.labels));
      for (const p of out.polygons) {
        expect(p.points.length).to.be.greaterThan(2);
        expect(p.score).to.be.closeTo(1, 1e-6);
      }
    });
  }

  it('empty or below-threshold maps give no instances; bad shapes throw', () => {
    const empty = postprocess({ height: 16, width: 16, channels: 3, data: new Float32Array(16 * 16 * 3) }, CELLPOSE_DEFAULTS);
    expect(countObjects(empty.labels)).to.equal(0);
    expect(empty.polygons).to.deep.equal([]);
    const { labels, count } = makeBlobs({ height: 32, width: 32, count: 3, seed: 2 });
    const maps = trueMaps(labels);
    expect(postprocess(maps, CELLPOSE_DEFAULTS, { probThresh: 1 }).polygons).to.deep.equal([]);
    for (let i = 0; i < 32 * 32; i++) maps.data[3 * i + 2] *= 0.9;
    expect(postprocess(maps, CELLPOSE_DEFAULTS).polygons.length).to.equal(count);
    expect(postprocess(maps, { ...CELLPOSE_DEFAULTS, cellprobThresh: 3 }).polygons).to.deep.equal([]); // sigmoid(3) = 0.95
    expect(() => postprocess({ height: 4, width: 4, channels: 2, data: new Float32Array(32) }, CELLPOSE_DEFAULTS)).to.throw(/channels/);
  });

  it('drops masks whose flows disagree with their shape', () => {
    const { labels } = makeBlobs({ height: 64, width: 64, count: 6, seed: 4 });
    const maps = trueMaps(labels);
    // scramble the flows of object 1 -> should vanish; the rest stays
    let changed = 0;
    for (let i = 0; i < 64 * 64; i++)
      if (labels.data[i] === 1) {
        maps.data[3 * i] = Math.sin(i * 12.9898) > 0 ? 1 : -1;
        maps.data[3 * i + 1] = 0;
        changed++;
      }
    expect(changed).to.be.greaterThan(0);
    const out = postprocess(maps, CELLPOSE_DEFAULTS);
    let hit = 0;
    for (let i = 0; i < 64 * 64; i++) if (labels.data[i] === 1 && out.labels.data[i] > 0) hit++;
    expect(hit / changed).to.be.lessThan(0.5);
  });
});
