import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend } from '../../tensor/helpers.js';
import { gaussian, makeBlobs, rng, sparsify } from '../../../scripts/synthetic.js';
import { CELLPOSE_DEFAULTS } from '../../../server/models/cellpose/config.js';
import { cellposeFamily } from '../../../server/models/cellpose/model.js';

const H = 32,
  W = 32;

function setup(seed: number) {
  const { labels } = makeBlobs({ height: H, width: W, count: 5, seed });
  const sparse = sparsify(
    labels,
    (id) => id % 2 === 1,
    (y) => y < 16,
  );
  const t = cellposeFamily.makeTargets(sparse, CELLPOSE_DEFAULTS);
  const r = rng(seed + 100);
  const p = new Float32Array(H * W * 3).map(() => 3 * gaussian(r));
  return { sparse, t, p };
}

for (const backend of ['cpu', 'wasm'] as const)
  describe(`cellpose loss (tensor half, ${backend})`, () => {
    before(() => useBackend(backend));

    it('declares 3 outputs and the family name', () => {
      expect(cellposeFamily.name).to.equal('cellpose');
      expect(cellposeFamily.outputChannels(CELLPOSE_DEFAULTS)).to.equal(3);
    });

    it('matches a direct computation of the masked loss', () => {
      const { t, p } = setup(1);
      const s = CELLPOSE_DEFAULTS.flowScale;
      let fl = 0,
        nf = 0,
        pl = 0,
        np = 0;
      for (let i = 0; i < H * W; i++) {
        const wf = t.weight[2 * i],
          wp = t.weight[2 * i + 1];
        if (wf > 0) {
          nf++;
          fl += (wf * ((p[3 * i] - s * t.target[3 * i]) ** 2 + (p[3 * i + 1] - s * t.target[3 * i + 1]) ** 2)) / 4;
        }
        if (wp > 0) {
          np++;
          const z = p[3 * i + 2],
            y = t.target[3 * i + 2];
          pl += wp * (Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z))));
        }
      }
      const expected = fl / nf + pl / np;
      const got = tf.tidy(
        () =>
          cellposeFamily
            .loss(tf.tensor4d(p, [1, H, W, 3]), tf.tensor4d(t.target, [1, H, W, 3]), tf.tensor4d(t.weight, [1, H, W, 2]), CELLPOSE_DEFAULTS)
            .dataSync()[0],
      );
      expect(got).to.be.closeTo(expected, 1e-4 * expected);
    });

    it('gives exactly zero gradient at unlabeled pixels (and zero flow gradient on background)', () => {
      const { sparse, t, p } = setup(2);
      const before = tf.memory().numTensors;
      const g = tf.tidy(() => {
        const target = tf.tensor4d(t.target, [1, H, W, 3]),
          weight = tf.tensor4d(t.weight, [1, H, W, 2]);
        return tf
          .grad((x: tf.Tensor) => cellposeFamily.loss(x as tf.Tensor4D, target, weight, CELLPOSE_DEFAULTS))(tf.tensor4d(p, [1, H, W, 3]))
          .dataSync();
      });
      expect(tf.memory().numTensors).to.equal(before);
      let unl = 0,
        nonzeroLabeled = 0;
      for (let i = 0; i < H * W; i++) {
        const v = sparse.data[i];
        if (v < 0) {
          unl++;
          for (let c = 0; c < 3; c++) expect(g[3 * i + c], `pixel ${i} c ${c}`).to.equal(0);
        } else if (v === 0) {
          expect(g[3 * i]).to.equal(0);
          expect(g[3 * i + 1]).to.equal(0);
          if (g[3 * i + 2] !== 0) nonzeroLabeled++;
        } else if (g[3 * i] !== 0 && g[3 * i + 2] !== 0) nonzeroLabeled++;
      }
      expect(unl).to.be.greaterThan(100);
      expect(nonzeroLabeled).to.be.greaterThan(100);
    });

    it('is 0 (not NaN) when nothing is labeled', () => {
      const v = tf.tidy(
        () => cellposeFamily.loss(tf.randomNormal([1, 8, 8, 3]), tf.zeros([1, 8, 8, 3]), tf.zeros([1, 8, 8, 2]), CELLPOSE_DEFAULTS).dataSync()[0],
      );
      expect(v).to.equal(0);
    });

    it('activate gives unit-scale flows and a probability, without leaks', () => {
      const before = tf.memory().numTensors;
      const raw = tf.tensor4d([5, -10, 0, 2.5, 0, 100], [1, 1, 2, 3]);
      const a = cellposeFamily.activate(raw, CELLPOSE_DEFAULTS);
      const d = Array.from(a.dataSync());
      expect(d[0]).to.be.closeTo(1, 1e-6);
      expect(d[1]).to.be.closeTo(-2, 1e-6);
      expect(d[2]).to.be.closeTo(0.5, 1e-6);
      expect(d[3]).to.be.closeTo(0.5, 1e-6);
      expect(d[5]).to.be.closeTo(1, 1e-6);
      tf.dispose([raw, a]);
      expect(tf.memory().numTensors).to.equal(before);
    });
  });
