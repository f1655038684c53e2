import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend, randn, expectClose, tensorflowAvailable } from './helpers.js';
import { conv2dBiasAct, maxPool2x2, upConcat, upsample2x } from '../../server/tensor/ops.js';

type Pad = 'same' | 'valid';

/** Gradients of sum(conv2d(x, w) * r) w.r.t. x and w, on the current backend (stock op -> registered grads). */
function convGrads(xs: number[], ws: number[], xd: Float32Array, wd: Float32Array, rd: Float32Array, stride: number, pad: Pad) {
  return tf.tidy(() => {
    const x = tf.tensor4d(xd, xs as [number, number, number, number]);
    const w = tf.tensor4d(wd, ws as [number, number, number, number]);
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
      return tf.sum(tf.mul(y, tf.tensor(rd.subarray(0, y.size), y.shape)));
    };
    const [gx, gw] = tf.grads(f)([x, w]);
    return [gx.dataSync().slice(), gw.dataSync().slice()] as [Float32Array, Float32Array];
  });
}

/** conv2dBiasAct (value and the three gradients, with and without ReLU) on `backend` vs stock ops on cpu. */
async function checkConvBiasAct(backend: 'wasm' | 'cpu' | 'tensorflow'): Promise<void> {
  const xs = [2, 8, 6, 3] as [number, number, number, number];
  const ws = [3, 3, 3, 5] as [number, number, number, number];
  const xd = randn(2 * 8 * 6 * 3, 4),
    wd = randn(135, 5, 0.5),
    bd = randn(5, 6, 0.3),
    rd = randn(2 * 8 * 6 * 5, 7);
  const run = (mine: boolean, relu: boolean) =>
    tf.tidy(() => {
      const x = tf.tensor4d(xd, xs),
        w = tf.tensor4d(wd, ws),
        b = tf.tensor1d(bd),
        r = tf.tensor4d(rd, [2, 8, 6, 5]);
      const f = (a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) => {
        const y = mine
          ? conv2dBiasAct(a as tf.Tensor4D, bw as tf.Tensor4D, bb as tf.Tensor1D, relu)
          : (() => {
              const z = tf.add(tf.conv2d(a as tf.Tensor4D, bw as tf.Tensor4D, 1, 'same'), bb);
              return relu ? tf.relu(z) : z;
            })();
        return tf.sum(tf.mul(y, r));
      };
      const { value, grads } = tf.valueAndGrads(f)([x, w, b]);
      return [value.dataSync()[0], ...grads.map((g) => g.dataSync().slice())] as [number, Float32Array, Float32Array, Float32Array];
    });
  for (const relu of [true, false]) {
    await useBackend('cpu');
    const ref = run(false, relu);
    await useBackend(backend);
    const got = run(true, relu);
    expect(got[0]).to.be.closeTo(ref[0], 1e-3 * Math.max(1, Math.abs(ref[0])));
    expectClose(got[1], ref[1], 1e-4, 'dx');
    expectClose(got[2], ref[2], 1e-4, 'dw');
    expectClose(got[3], ref[3], 1e-4, 'db');
  }
}

describe('tensor kernels (wasm vs cpu reference)', () => {
  const cases: Array<{ xs: number[]; ws: number[]; stride: number; pad: Pad }> = [
    { xs: [2, 9, 7, 3], ws: [3, 3, 3, 4], stride: 1, pad: 'same' },
    { xs: [1, 8, 8, 5], ws: [3, 3, 5, 2], stride: 1, pad: 'valid' },
    { xs: [3, 6, 10, 4], ws: [1, 1, 4, 6], stride: 1, pad: 'same' },
    { xs: [2, 9, 7, 3], ws: [3, 3, 3, 4], stride: 2, pad: 'same' },
  ];
  for (const c of cases) {
    it(`Conv2DBackpropFilter/Input x${c.xs} w${c.ws} stride ${c.stride} ${c.pad}`, async () => {
      const n = c.xs.reduce((a, b) => a * b);
      const m = c.ws.reduce((a, b) => a * b);
      const xd = randn(n, 1),
        wd = randn(m, 2),
        rd = randn(n * 8, 3);
      await useBackend('cpu');
      const [rx, rw] = convGrads(c.xs, c.ws, xd, wd, rd, c.stride, c.pad);
      await useBackend('wasm');
      const [gx, gw] = convGrads(c.xs, c.ws, xd, wd, rd, c.stride, c.pad);
      expectClose(gx, rx, 1e-4, 'dx');
      expectClose(gw, rw, 1e-4, 'dw');
    });
  }

  // tensorflow: libtensorflow through tfjs-node, present after `npm run native` (the CI script builds it);
  // there the backward runs TensorFlow's ReluGrad + BiasAddGrad (kernels/tensorflow.ts)
  it('conv2dBiasAct forward and gradients match stock cpu ops (tensorflow)', async function () {
    if (!(await tensorflowAvailable())) this.skip();
    await checkConvBiasAct('tensorflow');
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`conv2dBiasAct forward and gradients match stock ops (${backend})`, async () => {
      await checkConvBiasAct(backend);
    });

    it(`maxPool2x2: forward = tf.maxPool, gradient = finite differences, negative maxima kept (${backend})`, async () => {
      await useBackend(backend);
      const shape = [2, 4, 6, 3] as [number, number, number, number];
      const n = 2 * 4 * 6 * 3;
      const xd = randn(n, 8);
      for (let i = 0; i < n; i++) xd[i] -= 3; // all negative: the wasm MaxPoolGrad bug case
      const rd = randn(n / 4, 9);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(maxPool2x2(a as tf.Tensor4D), tf.tensor4d(rd, [2, 2, 3, 3])));
      const [y, ref] = tf.tidy(() => {
        const x = tf.tensor4d(xd, shape);
        return [maxPool2x2(x).dataSync().slice(), tf.maxPool(x, 2, 2, 'valid').dataSync().slice()];
      });
      expectClose(y, ref, 0, 'forward');
      const g = tf.tidy(() => tf.grad(f)(tf.tensor4d(xd, shape)).dataSync().slice());
      const eps = 1e-2;
      for (let i = 0; i < n; i++) {
        const p = xd.slice();
        p[i] += eps;
        const m = xd.slice();
        m[i] -= eps;
        const fd = tf.tidy(() => (f(tf.tensor4d(p, shape)).dataSync()[0] - f(tf.tensor4d(m, shape)).dataSync()[0]) / (2 * eps));
        expect(g[i]).to.be.closeTo(fd, 2e-2);
      }
      // Ties: the whole gradient goes to the first maximum of the window.
      const tie = tf.tidy(() =>
        tf
          .grad((a: tf.Tensor) => tf.sum(maxPool2x2(a as tf.Tensor4D)))(tf.zeros([1, 2, 2, 1]))
          .dataSync()
          .slice(),
      );
      expect(Array.from(tie)).to.deep.equal([1, 0, 0, 0]);
    });

    it(`upsample2x: forward = nearest, gradient = finite differences, batch > 1 (${backend})`, async () => {
      await useBackend(backend);
      const shape = [3, 2, 3, 2] as [number, number, number, number];
      const n = 36;
      const xd = randn(n, 10);
      const y = tf.tidy(() => upsample2x(tf.tensor4d(xd, shape)).dataSync().slice());
      for (let b = 0; b < 3; b++)
        for (let yy = 0; yy < 4; yy++)
          for (let x = 0; x < 6; x++)
            for (let c = 0; c < 2; c++) expect(y[((b * 4 + yy) * 6 + x) * 2 + c]).to.equal(xd[((b * 2 + (yy >> 1)) * 3 + (x >> 1)) * 2 + c]);
      const rd = randn(n * 4, 11);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(upsample2x(a as tf.Tensor4D), tf.tensor4d(rd, [3, 4, 6, 2])));
      const g = tf.tidy(() => tf.grad(f)(tf.tensor4d(xd, shape)).dataSync().slice());
      const eps = 1e-2;
      for (let i = 0; i < n; i++) {
        const p = xd.slice();
        p[i] += eps;
        const m = xd.slice();
        m[i] -= eps;
        const fd = tf.tidy(() => (f(tf.tensor4d(p, shape)).dataSync()[0] - f(tf.tensor4d(m, shape)).dataSync()[0]) / (2 * eps));
        expect(g[i]).to.be.closeTo(fd, 1e-2);
      }
    });
  }

  for (const backend of ['wasm', 'cpu'] as const)
    it(`upConcat: forward = concat(skip, upsample2x(low)), gradient = finite differences (${backend})`, async () => {
      await useBackend(backend);
      const ss = [2, 4, 6, 3] as [number, number, number, number],
        ls = [2, 2, 3, 2] as [number, number, number, number];
      const sd = randn(2 * 4 * 6 * 3, 12),
        ld = randn(2 * 2 * 3 * 2, 13),
        rd = randn(2 * 4 * 6 * 5, 14);
      const [got, ref] = tf.tidy(() => {
        const s = tf.tensor4d(sd, ss),
          l = tf.tensor4d(ld, ls);
        return [
          upConcat(s, l).dataSync().slice(),
          tf
            .concat([s, upsample2x(l)], 3)
            .dataSync()
            .slice(),
        ];
      });
      expectClose(got, ref, 0, 'forward');
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(upConcat(a as tf.Tensor4D, b as tf.Tensor4D), tf.tensor4d(rd, [2, 4, 6, 5])));
      const [gs, gl] = tf.tidy(() =>
        tf
          .grads(f)([tf.tensor4d(sd, ss), tf.tensor4d(ld, ls)])
          .map((g) => g.dataSync().slice()),
      );
      const eps = 1e-2;
      const value = (a: Float32Array, b: Float32Array) => tf.tidy(() => f(tf.tensor4d(a, ss), tf.tensor4d(b, ls)).dataSync()[0]);
      for (let i = 0; i < sd.length; i++) {
        const p = sd.slice();
        p[i] += eps;
        const m = sd.slice();
        m[i] -= eps;
        expect(gs[i]).to.be.closeTo((value(p, ld) - value(m, ld)) / (2 * eps), 1e-2);
      }
      for (let i = 0; i < ld.length; i++) {
        const p = ld.slice();
        p[i] += eps;
        const m = ld.slice();
        m[i] -= eps;
        expect(gl[i]).to.be.closeTo((value(sd, p) - value(sd, m)) / (2 * eps), 1e-2);
      }
    });

  it('custom ops leak no tensors', async () => {
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor4d(randn(2 * 8 * 8 * 3, 1), [2, 8, 8, 3]);
      const w = tf.tensor4d(randn(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
      const b = tf.zeros([4]) as tf.Tensor1D;
      tf.grads((a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) => {
        const h = conv2dBiasAct(a as tf.Tensor4D, bw as tf.Tensor4D, bb as tf.Tensor1D, true);
        return tf.sum(upConcat(h, upsample2x(maxPool2x2(maxPool2x2(h)))));
      })([x, w, b]);
    });
    expect(tf.memory().numTensors).to.equal(before);
  });
});
