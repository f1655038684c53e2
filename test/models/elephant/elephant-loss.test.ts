import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend } from '../../tensor/helpers.js';
import { gaussian, makeBlobs, rng, sparsify } from '../../../scripts/synthetic.js';
import { ELEPHANT_DEFAULTS } from '../../../server/models/elephant/config.js';
import { elephantFamily } from '../../../server/models/elephant/model.js';

const H = 32,
  W = 32;

function setup(seed: number) {
  const { labels } = makeBlobs({ height: H, width: W, count: 5, seed });
  const sparse = sparsify(
    labels,
    (id) => id % 2 === 1,
    (y) => y < 16,
  );
  const t = elephantFamily.makeTargets(sparse, ELEPHANT_DEFAULTS);
  const r = rng(seed + 100);
  const p = new Float32Array(H * W * 3).map(() => 3 * gaussian(r));
  return { sparse, t, p };
}

for (const backend of ['cpu', 'wasm'] as const)
  describe(`elephant loss (tensor half, ${backend})`, () => {
    before(() => useBackend(backend));

    it('declares 3 outputs and the family name', () => {
      expect(elephantFamily.name).to.equal('elephant');
      expect(elephantFamily.outputChannels(ELEPHANT_DEFAULTS)).to.equal(3);
    });

    /** Cross-entropy and class of every labeled pixel, computed directly from the logits. */
    function direct(t: ReturnType<typeof setup>['t'], p: Float32Array) {
      const rows: Array<{ w: number; c: number; ce: number }> = [];
      for (let i = 0; i < H * W; i++) {
        const w = t.weight[i];
        if (w <= 0) continue;
        const z = [p[3 * i], p[3 * i + 1], p[3 * i + 2]];
        const m = Math.max(...z);
        const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
        const c = [0, 1, 2].find((k) => t.target[3 * i + k] === 1)!;
        rows.push({ w, c, ce: lse - z[c] });
      }
      return rows;
    }
    const lossOf = (t: ReturnType<typeof setup>['t'], p: Float32Array, config: typeof ELEPHANT_DEFAULTS) =>
      tf.tidy(
        () => elephantFamily.loss(tf.tensor4d(p, [1, H, W, 3]), tf.tensor4d(t.target, [1, H, W, 3]), tf.tensor4d(t.weight, [1, H, W, 1]), config).dataSync()[0],
      );

    it("balance 'weights': matches a direct computation of the class-weighted cross-entropy", () => {
      const config = { ...ELEPHANT_DEFAULTS, balance: 'weights' as const };
      const { sparse } = setup(1);
      const t = elephantFamily.makeTargets(sparse, config);
      const { p } = setup(1);
      const rows = direct(t, p);
      expect(rows.length).to.be.greaterThan(100);
      const want = rows.reduce((a, r) => a + r.w * r.ce, 0) / rows.length;
      expect(lossOf(t, p, config)).to.be.closeTo(want, 1e-4 * want);
    });

    it("balance 'shares' (default): each class's mean cross-entropy weighted by its share, whatever the class counts", () => {
      const { t, p } = setup(1);
      const rows = direct(t, p);
      const means = [0, 1, 2].map((c) => {
        const r = rows.filter((x) => x.c === c);
        return r.reduce((a, x) => a + x.ce, 0) / r.length;
      });
      expect(means.every(Number.isFinite)).to.equal(true);
      const s = ELEPHANT_DEFAULTS.classShares;
      const want = (s[0] * means[0] + s[1] * means[1] + s[2] * means[2]) / (s[0] + s[1] + s[2]);
      expect(lossOf(t, p, ELEPHANT_DEFAULTS)).to.be.closeTo(want, 1e-4 * want);
      // labeling twice as much background changes the balance with 'weights' but not with 'shares'
      const more = { ...t, weight: t.weight.slice() };
      for (let i = 0; i < H * W; i++) if (t.target[3 * i] === 1) more.weight[i] = 2;
      expect(lossOf(more, p, ELEPHANT_DEFAULTS)).to.be.closeTo(want, 1e-4 * want);
    });

    it('gives exactly zero gradient at unlabeled pixels', () => {
      const { sparse, t, p } = setup(2);
      const before = tf.memory().numTensors;
      const g = tf.tidy(() => {
        const target = tf.tensor4d(t.target, [1, H, W, 3]),
          weight = tf.tensor4d(t.weight, [1, H, W, 1]);
        return tf
          .grad((x: tf.Tensor) => elephantFamily.loss(x as tf.Tensor4D, target, weight, ELEPHANT_DEFAULTS))(tf.tensor4d(p, [1, H, W, 3]))
          .dataSync();
      });
      expect(tf.memory().numTensors).to.equal(before);
      let unl = 0,
        nz = 0;
      for (let i = 0; i < H * W; i++) {
        if (sparse.data[i] < 0) {
          unl++;
          for (let c = 0; c < 3; c++) expect(g[3 * i + c]).to.equal(0);
        } else if (g[3 * i] !== 0) nz++;
      }
      expect(unl).to.be.greaterThan(100);
      expect(nz).to.be.greaterThan(100);
    });

    it('is 0 (not NaN) when nothing is labeled; activate is a softmax without leaks', () => {
      const before = tf.memory().numTensors;
      const v = tf.tidy(
        () => elephantFamily.loss(tf.randomNormal([1, 8, 8, 3]), tf.zeros([1, 8, 8, 3]), tf.zeros([1, 8, 8, 1]), ELEPHANT_DEFAULTS).dataSync()[0],
      );
      expect(v).to.equal(0);
      const raw = tf.tensor4d([0, 0, 0, 1, 2, 3], [1, 1, 2, 3]);
      const a = elephantFamily.activate(raw, ELEPHANT_DEFAULTS);
      const d = a.dataSync();
      expect(d[0]).to.be.closeTo(1 / 3, 1e-6);
      expect(d[3] + d[4] + d[5]).to.be.closeTo(1, 1e-6);
      expect(d[5]).to.be.greaterThan(d[4]);
      tf.dispose([raw, a]);
      expect(tf.memory().numTensors).to.equal(before);
    });
  });
