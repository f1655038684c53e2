/**
 * A StarDist-like model with grid 2 as a bioimage.io package: the output axes declare scale 2 (output = input / 2 by
 * the spec's size rule) with the halo in output pixels, config.stardist.grid = [2, 2], the ONNX graph (with its
 * full-resolution stem) reproduces the tfjs output on the test tensor, and an import predicts the same.
 * (The official validator and bioimageio.core check the same package in scripts/bioimageio-ci.sh.)
 */
import { expect } from 'chai';
import { tensorflowAvailable, useBackend } from '../tensor/helpers.js';
import { runOnnx } from './onnx.test.js';
import { summary, syntheticImage, TINY_STEPS, tinyTrainedModel, VARIANTS } from '../../scripts/bioimageio-packages.js';
import { buildPackage, channelsFirst, importPackage, packageTestTensors, pickTestCrop, readPackage } from '../../server/bioimageio/package.js';
import { normalizeImage } from '../../server/imaging/normalize.js';
import { disposeModel } from '../../server/models/segmentation-model.js';
import { predictImage } from '../../server/training/predict.js';

describe('bioimageio: StarDist grid 2 package', function () {
  this.timeout(300_000);
  before(async () => useBackend((await tensorflowAvailable()) ? 'tensorflow' : 'wasm'));

  it('declares output scale 2 and its halo in output pixels; ONNX = tfjs; import predicts the same', async function () {
    const v = VARIANTS['stardist-grid2'];
    const model = await tinyTrainedModel(v.family, TINY_STEPS, v.config);
    expect(model.unet.config.grid).to.equal(2);
    const { image, sparse } = syntheticImage();
    const crop = pickTestCrop(image, model.unet.config, sparse);
    const pkg = buildPackage(model, crop, { training: summary(TINY_STEPS, 'test'), sparsecellVersion: 'test' });
    const { rdf, config, files } = readPackage(pkg.zip, 1 << 28);
    const out = (rdf.outputs as Array<{ axes: Array<Record<string, unknown>> }>)[0];
    const y = out.axes.find((a) => a.id === 'y')!;
    expect(y.scale).to.equal(2);
    expect(y.size).to.deep.equal({ tensor_id: 'input', axis_id: 'y' });
    expect(y.halo).to.equal(32); // 8 * 2^depth output pixels = 64 input pixels (the predict overlap at grid 2)
    expect((rdf.config as Record<string, Record<string, unknown>>).stardist.grid).to.deep.equal([2, 2]);
    expect(config.unet.grid).to.equal(2);
    expect(config.familyConfig.grid).to.equal(2);

    const t = packageTestTensors(files);
    expect(t.output.shape).to.deep.equal([1, 17, t.input.shape[2] / 2, t.input.shape[3] / 2]);
    expect(t.output.data.some((x) => x > 0.5)).to.equal(true);
    expect(new Set(pkg.labels.data).size - 1, 'objects in the test crop').to.be.greaterThan(3);
    const raw = { height: t.input.shape[2], width: t.input.shape[3], channels: 1, data: Float32Array.from(t.input.data) };
    const onnx = await runOnnx(files.get('weights.onnx')!, channelsFirst(normalizeImage(raw, config.normalization)), t.input.shape);
    expect(onnx.dims).to.deep.equal(t.output.shape);
    let d = 0;
    for (let i = 0; i < onnx.data.length; i++) d = Math.max(d, Math.abs(onnx.data[i] - t.output.data[i]));
    this.test!.title += ` [max |ONNX - test_output| ${d.toExponential(1)}]`;
    expect(d).to.be.at.most(1e-4);

    const back = importPackage(pkg.zip, 1 << 28);
    expect(back.unet.config.grid).to.equal(2);
    const norm = normalizeImage(image, model.normalization);
    const a = await predictImage(model, norm, { normalized: true });
    const b = await predictImage(back, norm, { normalized: true });
    let e = 0;
    for (let i = 0; i < a.data.length; i++) e = Math.max(e, Math.abs(a.data[i] - b.data[i]));
    expect(e).to.be.at.most(1e-5);
    disposeModel(back);
    disposeModel(model);
  });
});
