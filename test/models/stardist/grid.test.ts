/**
 * StarDist's grid (config.grid = 2): the network predicts every second pixel in y and x. Targets at the grid points
 * equal the full-resolution targets sampled there; unlabeled grid points get zero loss gradient; post-processing
 * maps grid candidates to full-resolution polygons; tiled = untiled; archives keep the grid; a grid-2 model
 * overfits sparse labels and finds its objects where they are.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { tensorflowAvailable, useBackend } from '../../tensor/helpers.js';
import { makeBlobs, sparsify } from '../../../scripts/synthetic.js';
import type { Image2D, Labels2D } from '../../../server/imaging/types.js';
import { normalizeImage } from '../../../server/imaging/normalize.js';
import { matching, matchingWithPairs } from '../../../server/metrics/matching.js';
import { parseConfig } from '../../../server/models/stardist/config.js';
import { stardistFamily } from '../../../server/models/stardist/model.js';
import { makeTargets } from '../../../server/models/stardist/targets.js';
import { postprocess, postprocessGrid } from '../../../server/models/stardist/postprocess.js';
import { createModel, deserializeModel, disposeModel, serializeModel, type SegmentationModel } from '../../../server/models/segmentation-model.js';
import { decodeArchive, encodeArchive, unetForward, unetParamShapes } from '../../../server/models/unet/unet.js';
import { unetDivisor, unetMacsPerPixel } from '../../../server/models/unet/config.js';
import { PatchSampler, type Batch } from '../../../server/training/sampler.js';
import { batchTensors } from '../../../server/training/batch-tensors.js';
import { predictImage } from '../../../server/training/predict.js';
import { tuneThresholds } from '../../../server/training/thresholds.js';
import { blobs as fixBlobs, overfitHidden } from '../../helpers/family-training.js';

const N_RAYS = 16;
const blobs = makeBlobs({ height: 96, width: 90, count: 14, minRadius: 5, maxRadius: 9, seed: 4 });
const image = normalizeImage(blobs.image);
// odd objects and the left part of the background labeled: unlabeled pixels (and grid points) remain
const sparse = sparsify(
  blobs.labels,
  (id) => id % 2 === 1,
  (_y, x) => x < 60,
);

const sampler = (grid: number, seed = 9) => {
  const config = parseConfig({ nRays: N_RAYS, grid, unetDepth: 2 });
  return new PatchSampler([{ image, labels: sparse }], stardistFamily, config, {
    patchSize: 32,
    batchSize: 6,
    seed,
    augment: { flips: true, rot90: true, intensity: true },
    targetMargin: 16,
    divisor: 8,
  });
};

/** The full-resolution maps of `labels` sampled at (g*i, g*j): what a perfect grid-g network predicts. */
function gridMaps(labels: Labels2D, g: number): Image2D {
  const t = makeTargets(labels, { nRays: N_RAYS });
  const { height: H, width: W } = labels;
  const gh = Math.ceil(H / g),
    gw = Math.ceil(W / g),
    C = 1 + N_RAYS;
  const data = new Float32Array(gh * gw * C);
  for (let i = 0; i < gh; i++) for (let j = 0; j < gw; j++) data.set(t.target.subarray((g * i * W + g * j) * C, (g * i * W + g * j + 1) * C), (i * gw + j) * C);
  return { height: gh, width: gw, channels: C, data, fullHeight: H, fullWidth: W };
}

describe('StarDist grid 2', function () {
  this.timeout(240_000);
  before(async () => useBackend((await tensorflowAvailable()) ? 'tensorflow' : 'wasm'));

  it('config: grid is 1 (default) or 2; anything else is refused naming config.grid', () => {
    expect(parseConfig({}).grid).to.equal(1);
    expect(parseConfig({ grid: 2 }).grid).to.equal(2);
    for (const bad of [0, 3, 4, 1.5, -2, '2', null, [2, 2]]) expect(() => parseConfig({ grid: bad }), String(bad)).to.throw(/config\.grid must be one of 1, 2/);
  });

  it('targets and weights at grid 2 = the full-resolution ones sampled at the grid points (same patches, same augmentation)', () => {
    const s1 = sampler(1),
      s2 = sampler(2);
    let unlabeled = 0,
      background = 0,
      inside = 0;
    for (let k = 0; k < 4; k++) {
      const b1 = s1.next(),
        b2 = s2.next();
      expect(b2.grid).to.equal(2);
      expect(Array.from(b2.x)).to.deep.equal(Array.from(b1.x));
      const P = b1.height,
        Q = P / 2,
        tc = b1.targetChannels,
        wc = b1.weightChannels;
      expect(b2.target.length).to.equal(b1.target.length / 4);
      expect(b2.weight.length).to.equal(b1.weight.length / 4);
      for (let b = 0; b < b1.batchSize; b++)
        for (let y = 0; y < Q; y++)
          for (let x = 0; x < Q; x++) {
            const o2 = (b * Q + y) * Q + x,
              o1 = (b * P + 2 * y) * P + 2 * x;
            expect(Array.from(b2.target.subarray(o2 * tc, (o2 + 1) * tc))).to.deep.equal(Array.from(b1.target.subarray(o1 * tc, (o1 + 1) * tc)));
            expect(Array.from(b2.weight.subarray(o2 * wc, (o2 + 1) * wc))).to.deep.equal(Array.from(b1.weight.subarray(o1 * wc, (o1 + 1) * wc)));
            const w = b2.weight[o2 * wc],
              p = b2.target[o2 * tc];
            if (w === 0) unlabeled++;
            else if (p === 0) background++;
            else if (b2.target[o2 * tc + 1] > 0) inside++;
          }
    }
    // not trivially empty: every kind of grid point occurs
    expect(unlabeled, 'unlabeled grid points').to.be.greaterThan(20);
    expect(background, 'labeled background grid points').to.be.greaterThan(20);
    expect(inside, 'object grid points with distances').to.be.greaterThan(20);
  });

  it('makeTargets with grid 2 and a roi: the grid points from the roi origin equal the grid-1 targets', () => {
    const full = makeTargets(sparse, { nRays: N_RAYS });
    const roi: [number, number, number, number] = [3, 5, 71, 80];
    const g2 = makeTargets(sparse, { nRays: N_RAYS, grid: 2 }, roi);
    const C = 1 + N_RAYS,
      W = sparse.width;
    let objects = 0;
    for (let y = roi[0]; y < roi[2]; y += 2)
      for (let x = roi[1]; x < roi[3]; x += 2) {
        const p = y * W + x;
        expect(Array.from(g2.target.subarray(p * C, (p + 1) * C))).to.deep.equal(Array.from(full.target.subarray(p * C, (p + 1) * C)));
        expect([g2.weight[2 * p], g2.weight[2 * p + 1]]).to.deep.equal([full.weight[2 * p], full.weight[2 * p + 1]]);
        if (full.target[p * C + 1] > 0) objects++;
      }
    expect(objects).to.be.greaterThan(50);
  });

  it('post-processing: perfect grid-2 maps give the objects back at full resolution (even and odd image sizes)', () => {
    for (const [H, W] of [
      [96, 90],
      [95, 87],
    ]) {
      const b = makeBlobs({ height: H, width: W, count: 12, minRadius: 5, maxRadius: 9, seed: 8 });
      const config = { nRays: N_RAYS, probThresh: 0.5, nmsThresh: 0.4, grid: 2 };
      const maps = gridMaps(b.labels, 2);
      const inst = postprocess(maps, config);
      expect([inst.labels.height, inst.labels.width]).to.deep.equal([H, W]);
      const m = matching(b.labels, inst.labels, 0.5);
      expect(m.n_true).to.be.greaterThan(8);
      expect(m.f1, `${H}x${W} F1`).to.be.at.least(0.9);
      // the threshold-grid variant gives the same as one call per point
      const pts = [
        { probThresh: 0.4, nmsThresh: 0.3 },
        { probThresh: 0.6, nmsThresh: 0.3 },
        { probThresh: 0.5, nmsThresh: 0.5 },
      ];
      postprocessGrid(maps, config, pts).forEach((r, i) =>
        expect(Array.from(r.labels.data)).to.deep.equal(Array.from(postprocess(maps, config, pts[i]).labels.data)),
      );
      // maps that do not belong to the declared image size are refused
      expect(() => postprocess({ ...maps, fullHeight: H + 4 }, config)).to.throw(/do not belong to a/);
    }
  });

  it('post-processing: a lone candidate at map pixel (i, j) is the polygon around image pixel (2i, 2j)', () => {
    const gh = 20,
      gw = 24,
      C = 1 + N_RAYS;
    const data = new Float32Array(gh * gw * C);
    const at = (i: number, j: number) => (i * gw + j) * C;
    data[at(7, 11)] = 0.9;
    for (let r = 0; r < N_RAYS; r++) data[at(7, 11) + 1 + r] = 4;
    const inst = postprocess({ height: gh, width: gw, channels: C, data }, { nRays: N_RAYS, probThresh: 0.5, nmsThresh: 0.4, grid: 2 });
    expect([inst.labels.height, inst.labels.width]).to.deep.equal([40, 48]);
    expect(inst.polygons).to.have.length(1);
    let sy = 0,
      sx = 0,
      n = 0;
    inst.labels.data.forEach((v, p) => {
      if (v === 1) {
        sy += Math.floor(p / 48);
        sx += p % 48;
        n++;
      }
    });
    expect(n).to.be.within(40, 60); // a radius-4 disc at full resolution (~50 px), not a radius-2 one
    expect(sy / n).to.be.closeTo(14, 0.5);
    expect(sx / n).to.be.closeTo(22, 0.5);
  });

  it('U-Net: a full-resolution stem, then the U-Net at half resolution; inputs must be multiples of 2 x 2^depth', () => {
    const m = createModel('stardist', { nRays: N_RAYS, unetDepth: 2, unetFilters: 8, grid: 2 }, { seed: 1 });
    expect(m.unet.config.grid).to.equal(2);
    expect(unetDivisor(m.unet.config)).to.equal(8);
    const names = unetParamShapes(m.unet.config).map((p) => p.name);
    expect(names.slice(0, 4)).to.deep.equal(['stem/conv1/kernel', 'stem/conv1/bias', 'stem/conv2/kernel', 'stem/conv2/bias']);
    const g1 = createModel('stardist', { nRays: N_RAYS, unetDepth: 2, unetFilters: 8 }, { seed: 1 });
    expect(unetParamShapes(g1.unet.config).some((p) => p.name.startsWith('stem/'))).to.equal(false);
    expect(unetMacsPerPixel(m.unet.config)).to.be.lessThan(0.5 * unetMacsPerPixel(g1.unet.config));
    const shape = tf.tidy(() => unetForward(m.unet, tf.zeros([1, 24, 40, 1]) as tf.Tensor4D).shape);
    expect(shape).to.deep.equal([1, 12, 20, 1 + N_RAYS]);
    expect(() => tf.tidy(() => unetForward(m.unet, tf.zeros([1, 20, 40, 1]) as tf.Tensor4D))).to.throw(/not divisible by 8/);
    disposeModel(m);
    disposeModel(g1);
  });

  it('masked loss at grid 2: exactly zero gradient at unlabeled grid points, non-zero at labeled ones', () => {
    const m = createModel('stardist', { nRays: N_RAYS, unetDepth: 2, unetFilters: 8, grid: 2 }, { seed: 2 });
    const b: Batch = sampler(2, 5).next();
    const { zeroAtUnlabeled, nonzeroLabeled, unlabeled } = tf.tidy(() => {
      const { x, target, weight } = batchTensors(b);
      const pred = unetForward(m.unet, x);
      expect(pred.shape.slice(1, 3)).to.deep.equal([b.height / 2, b.width / 2]);
      const g = tf
        .grad((p: tf.Tensor) => m.family.loss(p as tf.Tensor4D, target, weight, m.config))(pred)
        .dataSync();
      const w = b.weight,
        C = 1 + N_RAYS;
      let zero = true,
        nz = 0,
        un = 0;
      for (let p = 0; p < w.length / 2; p++) {
        const labeled = w[2 * p] > 0 || w[2 * p + 1] > 0;
        if (!labeled) un++;
        for (let c = 0; c < C; c++) {
          const v = g[p * C + c];
          if (!labeled && v !== 0) zero = false;
          if (labeled && v !== 0 && c === 0) nz++;
        }
      }
      return { zeroAtUnlabeled: zero, nonzeroLabeled: nz, unlabeled: un };
    });
    expect(unlabeled).to.be.greaterThan(10);
    expect(nonzeroLabeled).to.be.greaterThan(10);
    expect(zeroAtUnlabeled).to.equal(true);
    disposeModel(m);
  });

  it('tiled prediction at grid 2 equals the untiled one (odd image size, several tiles)', async function () {
    const m = createModel('stardist', { nRays: N_RAYS, unetDepth: 2, unetFilters: 8, grid: 2 }, { seed: 3 });
    const big = normalizeImage(makeBlobs({ height: 301, width: 277, count: 30, seed: 6 }).image);
    const whole = await predictImage(m, big, { normalized: true, tileSize: 512 });
    let tiles = 0;
    const tiled = await predictImage(m, big, { normalized: true, tileSize: 200, onProgress: (p) => (tiles = p.total) });
    expect(tiles).to.be.at.least(4);
    expect([whole.height, whole.width, whole.fullHeight, whole.fullWidth]).to.deep.equal([151, 139, 301, 277]);
    expect([tiled.height, tiled.width]).to.deep.equal([151, 139]);
    let maxAbs = 0,
      maxVal = 0;
    for (let i = 0; i < whole.data.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(whole.data[i] - tiled.data[i]));
      maxVal = Math.max(maxVal, Math.abs(whole.data[i]));
    }
    expect(maxVal).to.be.greaterThan(0.01);
    this.test!.title += ` [${tiles} tiles, max |tiled - whole| ${maxAbs.toExponential(1)}]`;
    expect(maxAbs).to.be.at.most(1e-4);
    disposeModel(m);
  });

  describe('trained', () => {
    let m: SegmentationModel;
    it('a grid-2 model overfits sparse labels, finds the unlabeled objects, at their full-resolution positions', async function () {
      this.timeout(300_000);
      m = createModel('stardist', { unetDepth: 2, unetFilters: 16, grid: 2 }, { seed: 7 });
      const r = await overfitHidden(m);
      this.test!.title += ` [loss ${r.loss.toFixed(3)}, hidden found ${r.foundHidden.toFixed(2)}, F1 ${r.f1.toFixed(2)}, n_pred ${r.nPred}/${r.nTrue}]`;
      expect(r.foundHidden).to.be.at.least(0.6);
      expect(r.f1).to.be.at.least(0.6);
      // positions, at the image's resolution
      const inst = m.family.postprocess(await predictImage(m, normalizeImage(fixBlobs.image), { normalized: true }), m.config);
      expect([inst.labels.height, inst.labels.width]).to.deep.equal([64, 64]);
      const { pairs } = matchingWithPairs(fixBlobs.labels, inst.labels, 0.5);
      expect(pairs.length).to.be.at.least(6);
      const centroid = (l: Labels2D, id: number) => {
        let y = 0,
          x = 0,
          n = 0;
        l.data.forEach((v, p) => {
          if (v === id) {
            y += Math.floor(p / l.width);
            x += p % l.width;
            n++;
          }
        });
        return [y / n, x / n];
      };
      // each matched object's centroid within 3 px of the true one (objects have radius 4-7; after 120 steps the
      // polygons of grid-1 models are off by ~1-2 px too; the exact grid -> image mapping is tested above)
      let dy = 0,
        dx = 0;
      for (const p of pairs) {
        const [ty, tx] = centroid(fixBlobs.labels, p.trueId),
          [py, px] = centroid(inst.labels, p.predId);
        expect(Math.hypot(ty - py, tx - px), `object ${p.trueId}`).to.be.at.most(3);
        dy += (py - ty) / pairs.length;
        dx += (px - tx) / pairs.length;
      }
      this.test!.title += ` [mean centroid shift (${dy.toFixed(2)}, ${dx.toFixed(2)}) px]`;
    });

    it('threshold optimisation works on grid-2 maps (validation image with dense labels)', async () => {
      expect(m, 'trained model from the previous test').to.not.equal(undefined);
      const choice = await tuneThresholds(m, [{ image: fixBlobs.image, labels: fixBlobs.labels }]);
      expect(choice.grid.length).to.equal(48);
      expect(choice.accuracy).to.be.at.least(0.6);
      expect(choice.accuracy).to.equal(Math.max(...choice.grid.map((g) => g.accuracy)));
      expect(choice.probThresh).to.be.a('number');
      expect(choice.nmsThresh).to.be.a('number');
    });

    it('archive round trip keeps the grid and the predictions; a grid that contradicts the weights is refused', async () => {
      expect(m, 'trained model from the previous test').to.not.equal(undefined);
      const bytes = serializeModel(m);
      const back = deserializeModel(bytes);
      expect(back.config).to.include({ grid: 2 });
      expect(back.unet.config.grid).to.equal(2);
      const a = await predictImage(m, image, { normalized: true });
      const b = await predictImage(back, image, { normalized: true });
      expect(Array.from(b.data)).to.deep.equal(Array.from(a.data));
      expect(postprocess(a, m.config as never).polygons.length).to.be.greaterThan(0);
      const { spec, tensors } = decodeArchive<{ familyConfig: Record<string, unknown>; unet: Record<string, unknown> }>(bytes);
      const bad = encodeArchive({ ...spec, familyConfig: { ...spec.familyConfig, grid: 1 } }, tensors);
      expect(() => deserializeModel(bad)).to.throw(/grid/);
      disposeModel(back);
      disposeModel(m);
    });
  });

  it('archives written before grids existed (no grid fields) load as grid 1', () => {
    const m = createModel('stardist', { nRays: N_RAYS, unetDepth: 2, unetFilters: 8 }, { seed: 4 });
    const { spec, tensors } = decodeArchive<{ familyConfig: Record<string, unknown>; unet: Record<string, unknown> }>(serializeModel(m));
    const { grid: _a, ...fc } = spec.familyConfig;
    const { grid: _b, ...unet } = spec.unet;
    expect(_a).to.equal(1);
    const old = deserializeModel(encodeArchive({ ...spec, familyConfig: fc, unet }, tensors));
    expect(old.config).to.include({ grid: 1 });
    expect(old.unet.config.grid).to.equal(1);
    disposeModel(old);
    disposeModel(m);
  });
});
