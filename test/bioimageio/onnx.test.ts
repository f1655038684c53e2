import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import { useBackend, randn } from '../tensor/helpers.js';
import { createModel, disposeModel, type SegmentationModel } from '../../server/models/segmentation-model.js';
import { getUNetWeights, unetForward } from '../../server/models/unet/unet.js';
import { decodeOnnx, encodeOnnx } from '../../server/bioimageio/onnx.js';
import { activationSpec, channelsFirst } from '../../server/bioimageio/package.js';
import { onnxToUNetWeights, unetToOnnx } from '../../server/bioimageio/unet-onnx.js';
import { PbMessage, PbWriter } from '../../server/bioimageio/protobuf.js';

/** tfjs activated output, NCHW. */
function tfjsOutput(m: SegmentationModel, xNhwc: Float32Array, h: number, w: number): Float32Array {
  const nhwc = tf.tidy(
    () => m.family.activate(unetForward(m.unet, tf.tensor4d(xNhwc, [1, h, w, m.unet.config.inputChannels])), m.config).dataSync() as Float32Array,
  );
  return channelsFirst({ height: h, width: w, channels: m.unet.config.outputChannels, data: nhwc });
}

export async function runOnnx(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const r = await s.run({ input: new ort.Tensor('float32', input, dims) });
    return { data: r.output.data as Float32Array, dims: r.output.dims };
  } finally {
    await s.release();
  }
}

const maxAbs = (a: Float32Array, b: Float32Array) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('bioimageio: ONNX U-Net', () => {
  before(() => useBackend('wasm'));

  it('protobuf: varints, negative int64, strings, floats and packed ints round-trip', () => {
    const w = new PbWriter()
      .int(1, 300)
      .int(2, -5)
      .string(3, 'näme')
      .float(4, 1.5)
      .int(5, 2 ** 40);
    const m = PbMessage.decode(w.finish());
    expect([m.int(1), m.int(2), m.string(3), m.float(4), m.int(5)]).to.deep.equal([300, -5, 'näme', 1.5, 2 ** 40]);
    // packed repeated field 7: [1, 150, 3]
    const packed = PbMessage.decode(Uint8Array.from([0x3a, 4, 1, 0x96, 1, 3]));
    expect(packed.ints(7)).to.deep.equal([1, 150, 3]);
    expect(() => PbMessage.decode(Uint8Array.from([0x0a, 10, 1]))).to.throw(/truncated/);
  });

  for (const [family, config] of [
    ['stardist', { nRays: 8 }],
    ['cellpose', {}],
    ['elephant', {}],
  ] as const) {
    it(`${family}: onnxruntime reproduces the tfjs output (max abs diff <= 1e-4) and the weights read back exactly`, async () => {
      const m = createModel(family, { unetDepth: 2, unetFilters: 8, inputChannels: 2, ...config }, { seed: 3 });
      const h = 24,
        w = 32,
        cin = 2;
      const x = randn(h * w * cin, 9);
      const want = tfjsOutput(m, x, h, w);
      const bytes = unetToOnnx(m.unet.config, activationSpec(m), getUNetWeights(m.unet), 'test');
      const got = await runOnnx(bytes, channelsFirst({ height: h, width: w, channels: cin, data: x }), [1, cin, h, w]);
      expect(got.dims).to.deep.equal([1, m.unet.config.outputChannels, h, w]);
      expect(want.some((v) => Math.abs(v) > 1e-3)).to.equal(true);
      expect(maxAbs(got.data, want)).to.be.at.most(1e-4);
      const back = onnxToUNetWeights(bytes, m.unet.config, activationSpec(m));
      const orig = getUNetWeights(m.unet);
      expect(back.map((t) => t.name)).to.deep.equal(orig.map((t) => t.name));
      for (let i = 0; i < orig.length; i++) expect(maxAbs(back[i].data, orig[i].data)).to.equal(0);
      disposeModel(m);
    });
  }

  it('refuses graphs that are not the sparsecell U-Net, naming the difference', () => {
    const m = createModel('elephant', { unetDepth: 1, unetFilters: 4 }, { seed: 1 });
    const bytes = unetToOnnx(m.unet.config, activationSpec(m), getUNetWeights(m.unet), 'x');
    const parsed = decodeOnnx(bytes);
    const relu = parsed.graph.nodes.findIndex((n) => n.op === 'Relu');
    parsed.graph.nodes[relu] = { ...parsed.graph.nodes[relu], op: 'LeakyRelu' };
    expect(() => onnxToUNetWeights(encodeOnnx(parsed), m.unet.config, activationSpec(m))).to.throw(/node 1 .* is LeakyRelu, the sparsecell U-Net has Relu/);
    const deeper = { ...m.unet.config, depth: 2 };
    expect(() => onnxToUNetWeights(bytes, deeper, activationSpec(m))).to.throw(/nodes; a sparsecell elephant U-Net of depth 2/);
    expect(() => onnxToUNetWeights(Uint8Array.from([0xff, 0xff]), m.unet.config, activationSpec(m))).to.throw(/protobuf/);
    disposeModel(m);
  });
});
