import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend, randn } from '../../tensor/helpers.js';
import { stardistFamily, DIST_LOSS_WEIGHT, starDistLossOps } from '../../../server/models/stardist/model.js';
import { getFamily } from '../../../server/models/registry.js';
import { makeBlobs, sparsify } from '../../../scripts/synthetic.js';

describe('StarDist family (tensor half)', () => {
  before(() => useBackend('wasm'));
  const config = stardistFamily.parseConfig({ nRays: 8 });

  it('is registered; unknown families give a clear error', () => {
    expect(getFamily('stardist')).to.equal(stardistFamily);
    expect(() => getFamily('nope')).to.throw(/unknown model family 'nope'.*stardist/);
    expect(stardistFamily.outputChannels(config)).to.equal(9);
  });

  it('loss equals the formula on a hand-made example', () => {
    const H = 2,
      W = 2,
      n = 8;
    const pred = randn(H * W * 9, 1),
      target = new Float32Array(H * W * 9),
      weight = new Float32Array(H * W * 2);
    for (let p = 0; p < 4; p++) for (let r = 0; r < n; r++) target[p * 9 + 1 + r] = 1 + r;
    target[0] = 0.7;
    weight[0] = 1;
    weight[1] = 0.7; // instance pixel
    weight[2] = 1; // background pixel
    // pixels 2,3 unlabeled
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    const bce = (z: number, p: number) => -(p * Math.log(sig(z)) + (1 - p) * Math.log(1 - sig(z)));
    let l1 = 0;
    for (let r = 0; r < n; r++) l1 += Math.abs(target[1 + r] - pred[1 + r]) / n;
    const expected = (bce(pred[0], 0.7) + bce(pred[9], 0)) / 2 + (DIST_LOSS_WEIGHT * (0.7 * l1)) / 0.7;
    const got = tf.tidy(
      () => stardistFamily.loss(tf.tensor4d(pred, [1, H, W, 9]), tf.tensor4d(target, [1, H, W, 9]), tf.tensor4d(weight, [1, H, W, 2]), config).dataSync()[0],
    );
    expect(got).to.be.closeTo(expected, 1e-5);
  });

  it('gives EXACTLY zero gradient at unlabeled pixels', () => {
    const s = makeBlobs({ height: 32, width: 32, count: 6, seed: 2 });
    const sparse = sparsify(
      s.labels,
      (id) => id % 2 === 0,
      (y) => y < 16,
    );
    const t = stardistFamily.makeTargets(sparse, config);
    const pred = tf.variable(tf.tensor4d(randn(32 * 32 * 9, 3), [1, 32, 32, 9]));
    const g = tf.tidy(() =>
      tf
        .grad((p: tf.Tensor) => stardistFamily.loss(p as tf.Tensor4D, tf.tensor4d(t.target, [1, 32, 32, 9]), tf.tensor4d(t.weight, [1, 32, 32, 2]), config))(
          pred,
        )
        .dataSync(),
    );
    let unl = 0,
      nonzeroLabeled = 0;
    for (let p = 0; p < 32 * 32; p++) {
      if (sparse.data[p] === -1) {
        unl++;
        for (let c = 0; c < 9; c++) expect(g[p * 9 + c], `pixel ${p} channel ${c}`).to.equal(0);
      } else if (g[p * 9] !== 0) nonzeroLabeled++;
    }
    expect(unl).to.be.greaterThan(100);
    expect(nonzeroLabeled).to.be.greaterThan(100);
    pred.dispose();
  });

  for (const backend of ['wasm', 'cpu'] as const)
    it(`fused loss kernel = tf-ops loss, value and gradient (${backend})`, async () => {
      await useBackend(backend);
      const s = makeBlobs({ height: 24, width: 40, count: 5, seed: 9 });
      const sparse = sparsify(
        s.labels,
        (id) => id !== 2,
        (y, x) => (x + y) % 3 !== 0,
      );
      const t = stardistFamily.makeTargets(sparse, config);
      const run = (f: typeof starDistLossOps) =>
        tf.tidy(() => {
          const pred = tf.tensor4d(randn(2 * 24 * 40 * 9, 5, 2), [2, 24, 40, 9]);
          const tt = tf.concat([tf.tensor4d(t.target, [1, 24, 40, 9]), tf.tensor4d(t.target, [1, 24, 40, 9])]);
          const ww = tf.concat([tf.tensor4d(t.weight, [1, 24, 40, 2]), tf.mul(tf.tensor4d(t.weight, [1, 24, 40, 2]), 0.5)]);
          const { value, grads } = tf.valueAndGrads((p: tf.Tensor) => f(p as tf.Tensor4D, tt as tf.Tensor4D, ww as tf.Tensor4D, config))([pred]);
          return [value.dataSync()[0], grads[0].dataSync().slice()] as [number, Float32Array];
        });
      const [v1, g1] = run(stardistFamily.loss);
      const [v2, g2] = run(starDistLossOps);
      expect(v1).to.be.closeTo(v2, 1e-5 * Math.max(1, v2));
      let worst = 0;
      for (let i = 0; i < g1.length; i++) worst = Math.max(worst, Math.abs(g1[i] - g2[i]));
      expect(worst).to.be.below(1e-7);
    });

  it('tf-ops loss also gives EXACTLY zero gradient at unlabeled pixels', async () => {
    await useBackend('cpu');
    const s = makeBlobs({ height: 16, width: 16, count: 2, seed: 3 });
    const sparse = sparsify(
      s.labels,
      (id) => id === 1,
      (y) => y < 8,
    );
    const t = stardistFamily.makeTargets(sparse, config);
    const g = tf.tidy(() =>
      tf
        .grad((p: tf.Tensor) => starDistLossOps(p as tf.Tensor4D, tf.tensor4d(t.target, [1, 16, 16, 9]), tf.tensor4d(t.weight, [1, 16, 16, 2]), config))(
          tf.tensor4d(randn(16 * 16 * 9, 4), [1, 16, 16, 9]),
        )
        .dataSync(),
    );
    for (let p = 0; p < 256; p++) if (sparse.data[p] === -1) for (let c = 0; c < 9; c++) expect(g[p * 9 + c]).to.equal(0);
    await useBackend('wasm');
  });

  it('activate: sigmoid on channel 0, distances clamped at 0', () => {
    const out = tf.tidy(() => stardistFamily.activate(tf.tensor4d([0, -2, 3, 0, 0, 0, 0, 0, 0], [1, 1, 1, 9]), config).dataSync());
    expect(out[0]).to.be.closeTo(0.5, 1e-6);
    expect(out[1]).to.equal(0);
    expect(out[2]).to.equal(3);
  });
});
