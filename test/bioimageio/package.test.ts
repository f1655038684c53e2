/**
 * bioimage.io packages through a real daemon (WebSocket on port 0), for every family: model.export
 * {format: "bioimageio"} -> the zip's rdf, files and hashes; onnxruntime on the test tensor reproduces the tfjs
 * output; the test tensors give the labels the daemon predicts; model.import {format: "bioimageio"} -> the same
 * predictions; malformed and foreign packages give clear errors.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { PNG } from 'pngjs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import * as tf from '@tensorflow/tfjs-core';
import { useDaemon } from '../helpers/daemon.js';
import { rpcError } from '../helpers/rpc.js';
import { nd } from '../helpers/arrays.js';
import { tensorflowAvailable, useBackend } from '../tensor/helpers.js';
import { runOnnx } from './onnx.test.js';
import { FAMILIES, TINY_STEPS, syntheticImage, tinyTrainedModel } from '../../scripts/bioimageio-packages.js';
import type { SparsecellClient } from '../../clients/typescript/src/client.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import { disposeModel, serializeModel, type SegmentationModel } from '../../server/models/segmentation-model.js';
import { unetForward } from '../../server/models/unet/unet.js';
import { normalizeImage } from '../../server/imaging/normalize.js';
import type { Image2D } from '../../server/imaging/types.js';
import { channelsFirst, packageTestTensors, readPackage } from '../../server/bioimageio/package.js';
import { decodeOnnx, encodeOnnx } from '../../server/bioimageio/onnx.js';
import { readZip, writeZip } from '../../server/bioimageio/zip.js';
import type { FamilyName } from '../../server/models/model-family.js';

const MAX = 1 << 28;
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** [1, C, H, W] -> channels-last Image2D. */
function fromNchw(t: { data: Float32Array; shape: number[] }): Image2D {
  const [, c, h, w] = t.shape;
  const data = new Float32Array(t.data.length);
  for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) data[i * c + k] = t.data[k * h * w + i];
  return { height: h, width: w, channels: c, data };
}

describe('bioimageio: model packages through the daemon', function () {
  this.timeout(300000);
  const ctx = useDaemon();
  const syn = syntheticImage();
  const pixels = Uint8Array.from(syn.image.data);
  const sparseOffset1 = Uint16Array.from(syn.sparse.data, (v) => v + 1);
  const models = new Map<FamilyName, SegmentationModel>();

  before(async () => {
    await useBackend((await tensorflowAvailable()) ? 'tensorflow' : 'wasm');
    for (const f of FAMILIES) models.set(f, await tinyTrainedModel(f));
  });
  after(() => {
    for (const m of models.values()) disposeModel(m);
  });

  async function sessionWithModel(c: SparsecellClient, family: FamilyName): Promise<string> {
    const { sessionId } = await c.call('session.create', { family, name: `bioimageio-${family}` });
    await c.call('image.add', { sessionId, image: nd(pixels, [96, 96]) });
    await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparseOffset1, [96, 96]), encoding: 'offset1' });
    await c.call('model.import', { sessionId, model: b64(serializeModel(models.get(family)!)) });
    return sessionId;
  }

  async function predictLabels(c: SparsecellClient, sessionId: string, imageId: string): Promise<Int32Array> {
    const r = await c.call('model.predict', { sessionId, imageId });
    return decodeNdArray(r.labels, { maxElements: 1e7 }).data as Int32Array;
  }

  for (const family of FAMILIES) {
    it(`${family}: export -> rdf + files; ONNX = tfjs on the test tensor; test tensors = daemon prediction; import -> same labels`, async function () {
      const { c } = ctx;
      const sessionId = await sessionWithModel(c, family);
      const res = await c.call('model.export', { sessionId, format: 'bioimageio', name: `tiny ${family} test model`, authors: ['A. Tester'] });
      expect(res.format).to.equal('bioimageio');
      const zip = new Uint8Array(Buffer.from(res.model, 'base64'));
      const { rdf, config, files } = readPackage(zip, MAX);

      // rdf: spec 0.5, ONNX weights, hashes, preprocessing = the model's normalisation, config blocks
      expect(String(rdf.format_version)).to.match(/^0\.5\.\d+$/);
      expect(rdf.name).to.equal(`tiny ${family} test model`);
      expect((rdf.authors as { name: string }[])[0].name).to.equal('A. Tester');
      const w = (rdf.weights as Record<string, { source: string; sha256: string; opset_version: number }>).onnx;
      expect(w.opset_version).to.be.at.least(13);
      const sha = (n: string) => createHash('sha256').update(files.get(n)!).digest('hex');
      expect(w.sha256).to.equal(sha(w.source));
      const input = (rdf.inputs as Record<string, unknown>[])[0];
      const output = (rdf.outputs as Record<string, unknown>[])[0];
      expect((input.test_tensor as { sha256: string }).sha256).to.equal(sha('test_input.npy'));
      expect((output.test_tensor as { sha256: string }).sha256).to.equal(sha('test_output.npy'));
      expect((input.axes as { type: string }[]).map((a) => a.type)).to.deep.equal(['batch', 'channel', 'space', 'space']);
      const pre = (input.preprocessing as { id: string; kwargs: Record<string, unknown> }[]).find((p) => p.id === 'scale_range')!;
      expect(pre.kwargs).to.include({ min_percentile: 1, max_percentile: 99.8 });
      expect(pre.kwargs.axes).to.deep.equal(['y', 'x']);
      expect(config.family).to.equal(family);
      expect(config.training.steps).to.equal(0); // imported, not trained in this session
      expect(config.training.objects).to.equal(new Set(syn.sparse.data.filter((v) => v > 0)).size);
      if (family === 'stardist') {
        const sd = (rdf.config as Record<string, Record<string, unknown>>).stardist;
        expect(sd).to.include({ n_rays: 16, prob_thresh: 0.5, nms_thresh: 0.4 });
        expect(sd.grid).to.deep.equal([1, 1]);
      }
      const readme = new TextDecoder().decode(files.get('README.md'));
      expect(readme).to.contain(`| family | ${family}`).and.to.contain(`| labeled objects | ${config.training.objects} |`);
      const png = files.get('cover.png')!;
      expect([...png.subarray(1, 4)].map((b) => String.fromCharCode(b)).join('')).to.equal('PNG');
      const cover = PNG.sync.read(Buffer.from(png));
      expect(cover.width).to.equal(2 * cover.height);

      // ONNX (onnxruntime) and tfjs on the test tensor, preprocessed as the rdf says
      const t = packageTestTensors(files);
      const raw = fromNchw(t.input);
      expect(raw.height).to.be.at.least(68);
      const normalized = normalizeImage(raw, config.normalization);
      const onnx = await runOnnx(files.get('weights.onnx')!, channelsFirst(normalized), t.input.shape);
      expect(onnx.dims).to.deep.equal(t.output.shape);
      expect(t.output.data.some((v) => Math.abs(v) > 1e-2)).to.equal(true);
      const dOnnx = maxAbs(onnx.data, t.output.data);
      const m = models.get(family)!;
      const local = tf.tidy(
        () => m.family.activate(unetForward(m.unet, tf.tensor4d(normalized.data, [1, raw.height, raw.width, 1])), m.config).dataSync() as Float32Array,
      );
      const dTfjs = maxAbs(channelsFirst({ ...raw, channels: m.unet.config.outputChannels, data: local }), t.output.data);
      this.test!.title += ` [max |ONNX - test_output| ${dOnnx.toExponential(1)}, |tfjs here - test_output| ${dTfjs.toExponential(1)}]`;
      expect(dOnnx).to.be.at.most(1e-4);
      expect(dTfjs).to.be.at.most(1e-4);

      // the test tensors give the labels the daemon predicts for the test crop
      const crop = new Float32Array(t.input.data);
      const added = await c.call('image.add', { sessionId, image: nd(crop, [raw.height, raw.width]) });
      const daemonLabels = await predictLabels(c, sessionId, added.imageId);
      const fromTensor = m.family.postprocess(fromNchw(t.output), m.config).labels.data;
      expect(Math.max(...daemonLabels)).to.be.greaterThan(0);
      expect(Array.from(daemonLabels)).to.deep.equal(Array.from(fromTensor));
      // the cover's right half is the test crop with the predicted outlines drawn in colour
      let coloured = 0;
      for (let i = 0; i < cover.width * cover.height; i++)
        if (cover.data[4 * i] !== cover.data[4 * i + 1] || cover.data[4 * i + 1] !== cover.data[4 * i + 2]) coloured++;
      expect(coloured).to.be.greaterThan(10);

      // import the package into a new session: same predictions on the training image
      const s2 = (await c.call('session.create', { family: 'stardist' })).sessionId;
      await c.call('image.add', { sessionId: s2, image: nd(pixels, [96, 96]) });
      const imp = await c.call('model.import', { sessionId: s2, model: res.model, format: 'bioimageio' });
      expect(imp.family).to.equal(family);
      const before = await predictLabels(c, sessionId, 'img1');
      const after = await predictLabels(c, s2, 'img1');
      expect(Math.max(...before)).to.be.greaterThan(0);
      expect(Array.from(after)).to.deep.equal(Array.from(before));
      // and the imported model trains further (fine-tuning)
      await c.call('labels.update', { sessionId: s2, imageId: 'img1', labels: nd(sparseOffset1, [96, 96]), encoding: 'offset1' });
      const { jobId } = await c.call('model.train', { sessionId: s2, steps: 2, options: { patchSize: 32, batchSize: 1 } });
      await c.waitForProgressEnd(jobId);
      const info = await c.call('session.get', { sessionId: s2 });
      expect(info.jobs.find((j) => j.jobId === jobId)?.state).to.equal('done');
      const again = readPackage(new Uint8Array(Buffer.from((await c.call('model.export', { sessionId: s2, format: 'bioimageio' })).model, 'base64')), MAX);
      expect(again.config.training.steps).to.equal(2); // steps trained in the daemon are counted
      await c.call('session.close', { sessionId: s2, delete: true });
      await c.call('session.close', { sessionId, delete: true });
    });
  }

  it('malformed and foreign packages, and bad export params, give clear errors', async () => {
    const { c } = ctx;
    const sessionId = await sessionWithModel(c, 'elephant');
    const zip = new Uint8Array(Buffer.from((await c.call('model.export', { sessionId, format: 'bioimageio' })).model, 'base64'));
    const imp = (model: Uint8Array, format: 'bioimageio' | null = 'bioimageio') =>
      rpcError(c.call('model.import', { sessionId, model: b64(model), ...(format ? { format } : {}) }));

    let e = await imp(Uint8Array.from([1, 2, 3, 4, 5]));
    expect(e.code).to.equal(ErrorCode.InvalidModel);
    expect(e.message).to.match(/not a bioimage\.io package: not a zip archive/);

    e = await imp(zip, null);
    expect(e.code).to.equal(ErrorCode.InvalidParams);
    expect((e.data as { path: string }[])[0].path).to.equal('/format');

    const files = readZip(zip, MAX);
    const rdf = parseYaml(new TextDecoder().decode(files.get('rdf.yaml'))) as Record<string, unknown>;
    const rezip = (r: Record<string, unknown>, extra: Record<string, Uint8Array> = {}) =>
      writeZip([
        { name: 'rdf.yaml', data: new TextEncoder().encode(stringifyYaml(r)) },
        ...[...files].filter(([n]) => n !== 'rdf.yaml').map(([name, data]) => ({ name, data: extra[name] ?? data })),
      ]);

    // a foreign architecture (PyTorch state dict, no config.sparsecell)
    const foreign = {
      ...rdf,
      name: 'UNet 2D Nuclei Broad',
      config: {},
      weights: { pytorch_state_dict: { source: 'w.pt', architecture: { callable: 'UNet2d' } }, torchscript: { source: 'w.ts' } },
    };
    e = await imp(rezip(foreign));
    expect(e.code).to.equal(ErrorCode.InvalidModel);
    expect(e.message).to.contain('was not exported by sparsecell').and.to.contain('pytorch_state_dict, torchscript').and.to.contain('UNet2d');

    // our config but an ONNX graph that is not our U-Net
    const onnx = decodeOnnx(files.get('weights.onnx')!);
    onnx.graph.nodes[1] = { ...onnx.graph.nodes[1], op: 'Elu' };
    e = await imp(rezip(rdf, { 'weights.onnx': encodeOnnx(onnx) }));
    expect(e.code).to.equal(ErrorCode.InvalidModel);
    expect(e.message).to.match(/unsupported architecture: node 1 .* is Elu, the sparsecell U-Net has Relu/);

    // another spec version, a broken zip and a missing weights file
    e = await imp(rezip({ ...rdf, format_version: '0.4.10' }));
    expect(e.message).to.contain('format_version 0.4.10 is not supported');
    const truncated = zip.slice(0, zip.length - 30);
    e = await imp(truncated);
    expect(e.code).to.equal(ErrorCode.InvalidModel);
    e = await imp(rezip({ ...rdf, weights: { onnx: { source: 'missing.onnx' } } }));
    expect(e.message).to.contain('"missing.onnx" is not a file in the package');

    // the session still has its model afterwards
    expect(Math.max(...(await predictLabels(c, sessionId, 'img1')))).to.be.greaterThan(0);

    e = await rpcError(c.call('model.export', { sessionId, format: 'bioimageio', name: 'bad/name' }));
    expect(e.code).to.equal(ErrorCode.InvalidParams);
    expect((e.data as { path: string }[])[0].path).to.equal('/name');
    e = await rpcError(c.call('model.export', { sessionId, format: 'bioimageio', license: 'My-License' as never }));
    expect(e.code).to.equal(ErrorCode.InvalidParams);
    expect((e.data as { path: string }[])[0].path).to.equal('/license');
    e = await rpcError(c.call('model.export', { sessionId, format: 'bioimageio', imageId: 'nope' }));
    expect(e.code).to.equal(ErrorCode.ImageNotFound);
    await c.call('session.close', { sessionId, delete: true });
  });

  it('a stack (ZYX): the test tensor is cut from the plane with the labeled objects', async () => {
    const { c } = ctx;
    const { sessionId } = await c.call('session.create', { family: 'elephant' });
    const stack = new Uint8Array(3 * 96 * 96).fill(7);
    stack.set(pixels, 2 * 96 * 96);
    await c.call('image.add', { sessionId, image: nd(stack, [3, 96, 96]), axes: 'ZYX' });
    await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparseOffset1, [1, 96, 96]), encoding: 'offset1', origin: [2, 0, 0] });
    await c.call('model.import', { sessionId, model: b64(serializeModel(models.get('elephant')!)) });
    const zip = new Uint8Array(Buffer.from((await c.call('model.export', { sessionId, format: 'bioimageio' })).model, 'base64'));
    const t = packageTestTensors(readPackage(zip, MAX).files).input;
    expect(t.shape).to.deep.equal([1, 1, 96, 96]);
    expect(Array.from(t.data)).to.deep.equal(Array.from(pixels));
    await c.call('session.close', { sessionId, delete: true });
  });

  it('zip reader bounds: declared sizes over the limit are refused before inflating', () => {
    const big = writeZip([{ name: 'a.bin', data: new Uint8Array(1 << 20) }]);
    expect(big.length).to.be.lessThan(1 << 14);
    expect(() => readZip(big, 1 << 19)).to.throw(/expands to more than/);
    expect(readZip(big, 1 << 21).get('a.bin')!.length).to.equal(1 << 20);
    const bad = big.slice();
    bad[bad.length - 22 - 46 - 5 + 16] ^= 0xff; // central directory CRC
    expect(() => readZip(bad, 1 << 21)).to.throw(/corrupt|CRC|central/);
  });
});

export { TINY_STEPS };
