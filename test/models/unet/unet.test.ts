import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend, randn, expectClose } from '../../tensor/helpers.js';
import {
  createUNet,
  decodeArchive,
  disposeUNet,
  encodeArchive,
  getUNetWeights,
  setUNetWeights,
  unetForward,
  unetParamShapes,
} from '../../../server/models/unet/unet.js';
import { makeUNetConfig, unetMacsPerPixel } from '../../../server/models/unet/config.js';

describe('U-Net', () => {
  before(() => useBackend('wasm'));

  it('has the documented parameters (the recipe: depth 3, 16 filters)', () => {
    const shapes = unetParamShapes(makeUNetConfig({ inputChannels: 1, outputChannels: 33 }));
    expect(shapes.length).to.equal(2 * (2 * 3 + 2 + 2 * 3 + 1));
    expect(shapes[0]).to.deep.equal({ name: 'enc0/conv1/kernel', shape: [3, 3, 1, 16] });
    expect(shapes.find((s) => s.name === 'bottom/conv2/kernel')!.shape).to.deep.equal([3, 3, 128, 128]);
    expect(shapes.find((s) => s.name === 'dec0/conv1/kernel')!.shape).to.deep.equal([3, 3, 48, 16]);
    expect(shapes.at(-2)!.shape).to.deep.equal([1, 1, 16, 33]);
    expect(unetMacsPerPixel(makeUNetConfig({ inputChannels: 1, outputChannels: 33 }))).to.be.within(3.7e4, 4.3e4);
    // the 32-filter net costs 4x the MACs (the documented formula scales with filters^2)
    expect(unetMacsPerPixel(makeUNetConfig({ inputChannels: 1, outputChannels: 33, filters: 32 }))).to.be.within(1.5e5, 1.7e5);
  });

  it('forward: output shape, seeded init, divisibility check, no leaked tensors', () => {
    const a = createUNet({ inputChannels: 2, outputChannels: 5, depth: 2, filters: 8, seed: 3 });
    const b = createUNet({ inputChannels: 2, outputChannels: 5, depth: 2, filters: 8, seed: 3 });
    const x = tf.tensor4d(randn(2 * 16 * 24 * 2, 1), [2, 16, 24, 2]);
    const before = tf.memory().numTensors;
    const ya = unetForward(a, x),
      yb = unetForward(b, x);
    expect(ya.shape).to.deep.equal([2, 16, 24, 5]);
    expectClose(ya.dataSync(), yb.dataSync(), 0, 'same seed');
    ya.dispose();
    yb.dispose();
    expect(tf.memory().numTensors).to.equal(before);
    expect(() => unetForward(a, tf.zeros([1, 10, 16, 2]) as tf.Tensor4D)).to.throw(/divisible by 4/);
    x.dispose();
    disposeUNet(a);
    disposeUNet(b);
  });

  it('archive round trip restores weights bit for bit and rejects garbage', () => {
    const a = createUNet({ inputChannels: 1, outputChannels: 3, depth: 1, filters: 4, seed: 5 });
    const w = getUNetWeights(a);
    const bytes = encodeArchive({ hello: 'world' }, w);
    const { spec, tensors } = decodeArchive<{ hello: string }>(bytes);
    expect(spec.hello).to.equal('world');
    const b = createUNet({ inputChannels: 1, outputChannels: 3, depth: 1, filters: 4, seed: 6 });
    setUNetWeights(b, tensors);
    const wb = getUNetWeights(b);
    for (let i = 0; i < w.length; i++) expect(Buffer.from(wb[i].data.buffer).equals(Buffer.from(w[i].data.buffer))).to.equal(true);
    expect(() => decodeArchive(new Uint8Array(10))).to.throw(/magic/);
    expect(() => decodeArchive(bytes.subarray(0, bytes.length - 4))).to.throw(/truncated/);
    disposeUNet(a);
    disposeUNet(b);
  });

  it('create + dispose leaves no tensors behind', () => {
    const before = tf.memory().numTensors;
    disposeUNet(createUNet({ inputChannels: 1, outputChannels: 3, depth: 2, filters: 4 }));
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('gradients flow to every parameter', () => {
    const u = createUNet({ inputChannels: 1, outputChannels: 2, depth: 2, filters: 4, seed: 1 });
    const x = tf.tensor4d(randn(16 * 16, 2), [1, 16, 16, 1]);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(unetForward(u, x))) as tf.Scalar);
    for (const p of u.params) {
      const g = grads[p.variable.name];
      expect(g, p.name).to.not.equal(undefined);
      expect(tf.sum(tf.abs(g)).dataSync()[0], p.name).to.be.greaterThan(0);
    }
    tf.dispose(Object.values(grads));
    x.dispose();
    disposeUNet(u);
  });
});
