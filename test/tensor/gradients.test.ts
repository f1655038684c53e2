import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend, randn } from './helpers.js';
import { GRADIENT_KERNELS } from '../../server/tensor/gradients.js';

/** Central finite differences (float64 accumulation of a float32 function) vs tf.grads for every input. */
function fdCheck(f: (...xs: tf.Tensor[]) => tf.Tensor, shapes: number[][], seed: number, opts: { positive?: boolean; tol?: number } = {}) {
  const datas = shapes.map((s, k) => {
    const d = randn(
      s.reduce((a, b) => a * b, 1),
      seed + k,
    );
    if (opts.positive) for (let i = 0; i < d.length; i++) d[i] = 0.5 + Math.abs(d[i]);
    return d;
  });
  const weights = randn(4096, seed + 99);
  const scalar = (...xs: tf.Tensor[]) => {
    const y = f(...xs);
    return tf.sum(tf.mul(y, tf.tensor(weights.subarray(0, y.size), y.shape)));
  };
  const value = (ds: Float32Array[]) => tf.tidy(() => scalar(...ds.map((d, k) => tf.tensor(d, shapes[k]))).dataSync()[0]);
  const analytic = tf.tidy(() =>
    tf
      .grads(scalar)(datas.map((d, k) => tf.tensor(d, shapes[k])))
      .map((g) => g.dataSync().slice()),
  );
  const eps = 1e-2;
  for (let k = 0; k < datas.length; k++)
    for (let i = 0; i < datas[k].length; i++) {
      const p = datas.map((d) => d.slice());
      p[k][i] += eps;
      const m = datas.map((d) => d.slice());
      m[k][i] -= eps;
      const fd = (value(p) - value(m)) / (2 * eps);
      expect(analytic[k][i], `input ${k} element ${i}`).to.be.closeTo(fd, (opts.tol ?? 2e-2) * Math.max(1, Math.abs(fd)));
    }
}

describe('registered stock-kernel gradients vs finite differences', () => {
  const cases: Record<string, [(...xs: tf.Tensor[]) => tf.Tensor, number[][], { positive?: boolean; tol?: number }?]> = {
    Add: [(a, b) => tf.add(a, b), [[2, 3], [3]]],
    Sub: [
      (a, b) => tf.sub(a, b),
      [
        [2, 1],
        [2, 3],
      ],
    ],
    Multiply: [
      (a, b) => tf.mul(a, b),
      [
        [2, 3],
        [1, 3],
      ],
    ],
    RealDiv: [(a, b) => tf.div(a, b), [[2, 3], [3]], { positive: true }],
    Maximum: [
      (a, b) => tf.maximum(a, b),
      [
        [2, 3],
        [2, 3],
      ],
    ],
    Minimum: [
      (a, b) => tf.minimum(a, b),
      [
        [2, 3],
        [2, 3],
      ],
    ],
    SquaredDifference: [
      (a, b) => tf.squaredDifference(a, b),
      [
        [2, 3],
        [2, 3],
      ],
    ],
    AddN: [(a, b, c) => tf.addN([a, b, c]), [[4], [4], [4]]],
    Neg: [(a) => tf.neg(a), [[5]]],
    Identity: [(a) => tf.clone(a), [[5]]],
    Cast: [(a) => tf.cast(a, 'float32'), [[5]]],
    Reshape: [(a) => tf.reshape(a, [3, 2]), [[2, 3]]],
    ExpandDims: [(a) => tf.expandDims(a, 1), [[2, 3]]],
    Log: [(a) => tf.log(a), [[5]], { positive: true }],
    Log1p: [(a) => tf.log1p(a), [[5]], { positive: true }],
    Abs: [(a) => tf.abs(a), [[7]]],
    Relu: [(a) => tf.relu(a), [[7]]],
    Square: [(a) => tf.square(a), [[7]]],
    Softplus: [(a) => tf.softplus(a), [[7]]],
    ClipByValue: [(a) => tf.clipByValue(a, -0.5, 0.7), [[9]]],
    Sigmoid: [(a) => tf.sigmoid(a), [[7]]],
    Exp: [(a) => tf.exp(a), [[7]]],
    Sqrt: [(a) => tf.sqrt(a), [[7]], { positive: true }],
    Tanh: [(a) => tf.tanh(a), [[7]]],
    Sum: [(a) => tf.add(tf.sum(a, 1), tf.sum(tf.reshape(tf.sum(a, [0, 2], true), [1, 3, 1]))), [[2, 3, 4]]],
    Mean: [(a) => tf.mul(tf.mean(a, -1), tf.mean(a)), [[2, 3, 4]]],
    Max: [(a) => tf.max(a, 1), [[3, 4]]],
    Softmax: [(a) => tf.softmax(a, -1), [[2, 5]]],
    LogSoftmax: [(a) => tf.logSoftmax(a, -1), [[2, 5]]],
    Select: [(a, b) => tf.where(tf.tensor1d([true, false, true], 'bool'), a, b), [[3], [3]]],
    Slice: [(a) => tf.slice(a, [1, 0], [1, 2]), [[3, 3]]],
    PadV2: [
      (a) =>
        tf.pad(a, [
          [1, 0],
          [0, 2],
        ]),
      [[2, 2]],
    ],
    Transpose: [(a) => tf.transpose(a, [2, 0, 1]), [[2, 3, 4]]],
    Concat: [
      (a, b) => tf.concat([a, b], -1),
      [
        [2, 2],
        [2, 3],
      ],
    ],
    Pack: [
      (a, b) => tf.stack([a, b], 1),
      [
        [2, 3],
        [2, 3],
      ],
    ],
    Conv2D: [
      (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
      [
        [1, 4, 5, 2],
        [3, 3, 2, 3],
      ],
    ],
  };

  it('every registered gradient has a case here', () => {
    expect(GRADIENT_KERNELS.filter((k) => !(k in cases))).to.deep.equal([]);
  });

  for (const backend of ['cpu', 'wasm'] as const)
    for (const [name, [f, shapes, opts]] of Object.entries(cases))
      it(`${name} (${backend})`, async () => {
        await useBackend(backend);
        fdCheck(f, shapes, name.length, opts);
      });
});
