/**
 * Fine-tuning a starter model with sparse labels (RECIPE.finetune): the warm-up and frozen-encoder policy, the
 * masked loss falling on a shifted domain, predictions moving toward the labels, and zero gradient from unlabeled
 * pixels. The starter is a small model trained in this process (test/helpers/starter.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { normalizeImage } from '../../server/imaging/normalize.js';
import { deserializeModel, disposeModel, type SegmentationModel } from '../../server/models/segmentation-model.js';
import { unetDecoderVariables, unetForward, unetVariables } from '../../server/models/unet/unet.js';
import { PatchSampler, type Batch, type TrainingSample } from '../../server/training/sampler.js';
import { batchLoss, train } from '../../server/training/train.js';
import { batchTensors } from '../../server/training/batch-tensors.js';
import { predictImage } from '../../server/training/predict.js';
import { FINETUNE_OPTIONS, parseTrainOptions } from '../../server/training/config.js';
import { RECIPE, finetuneStep } from '../../server/recipe.js';
import type { Labels2D } from '../../server/imaging/types.js';
import { testStarterDir } from '../helpers/starter.js';

/** The shifted domain: larger, dimmer, noisier blobs on a brighter background (another microscope / magnification). */
const shifted = makeBlobs({ height: 96, width: 96, count: 10, minRadius: 7, maxRadius: 11, background: 0.3, intensity: [0.45, 0.6], noise: 0.06, seed: 77 });
/** Sparse labels: odd objects, and background only in the left third; everything else unlabeled (-1). */
function sparseLabels(): Labels2D {
  const l = sparsify(shifted.labels, (id) => id % 2 === 1);
  for (let i = 0; i < l.data.length; i++) if (l.data[i] === 0 && i % 96 >= 32) l.data[i] = -1;
  return l;
}

const samplerOf = (m: SegmentationModel, s: TrainingSample[], seed: number, augment = true) =>
  new PatchSampler(s, m.family, m.config, {
    patchSize: 64,
    batchSize: 4,
    seed,
    augment: { flips: augment, rot90: augment, intensity: augment },
    targetMargin: 16,
    divisor: 4,
  });

/** Fraction of labeled pixels whose prediction (object vs background) agrees with the sparse label. */
async function agreement(m: SegmentationModel, labels: Labels2D): Promise<number> {
  const img = normalizeImage(shifted.image, m.normalization);
  const inst = m.family.postprocess(await predictImage(m, img, { normalized: true }), m.config);
  let n = 0,
    ok = 0;
  for (let i = 0; i < labels.data.length; i++) {
    if (labels.data[i] < 0) continue;
    n++;
    if (labels.data[i] > 0 === inst.labels.data[i] > 0) ok++;
  }
  return ok / n;
}

const snapshot = (vars: tf.Variable[]) => vars.map((v) => Float32Array.from(v.dataSync() as Float32Array));
const changed = (vars: tf.Variable[], before: Float32Array[]) =>
  vars.filter((v, i) => (v.dataSync() as Float32Array).some((x, j) => x !== before[i][j])).length;

describe('training: fine-tuning a starter with sparse labels', function () {
  this.timeout(300000);
  let archive: Uint8Array;
  before(async () => {
    ({ archive } = await testStarterDir());
  });

  it('the policy: model.train at the measured rates; live mode lower, with linear warm-up and the encoder frozen at first', () => {
    expect(FINETUNE_OPTIONS).to.deep.equal({
      learningRate: RECIPE.finetune.learningRate,
      lrFinal: RECIPE.finetune.lrFinal,
      warmupSteps: RECIPE.finetune.warmupSteps,
      freezeEncoderSteps: RECIPE.finetune.freezeEncoderSteps,
    });
    expect(RECIPE.finetune.liveLearningRate).to.be.below(RECIPE.live.learningRate);
    const live = { warmupSteps: RECIPE.finetune.liveWarmupSteps, freezeEncoderSteps: RECIPE.finetune.liveFreezeEncoderSteps };
    const w = live.warmupSteps;
    expect(w).to.be.above(1);
    expect(finetuneStep(live, 0).lrFactor).to.be.closeTo(1 / w, 1e-12);
    expect(finetuneStep(live, w - 1).lrFactor).to.equal(1);
    expect(finetuneStep(live, live.freezeEncoderSteps - 1).freezeEncoder).to.equal(true);
    expect(finetuneStep(live, live.freezeEncoderSteps).freezeEncoder).to.equal(false);
    expect(finetuneStep({ warmupSteps: 0, freezeEncoderSteps: 0 }, 0)).to.deep.equal({ lrFactor: 1, freezeEncoder: false });
    // parseTrainOptions accepts them (and refuses bad values, naming the field)
    expect(parseTrainOptions({ warmupSteps: 5, freezeEncoderSteps: 3 })).to.include({ warmupSteps: 5, freezeEncoderSteps: 3 });
    expect(() => parseTrainOptions({ freezeEncoderSteps: -1 })).to.throw(/freezeEncoderSteps/);
  });

  it('while the encoder is frozen only the decoder and output layer move; afterwards the encoder moves too', async () => {
    const m = deserializeModel(archive);
    const s = samplerOf(m, [{ image: normalizeImage(shifted.image, m.normalization), labels: sparseLabels() }], 3);
    const all = unetVariables(m.unet),
      dec = unetDecoderVariables(m.unet);
    const enc = all.filter((v) => !dec.includes(v));
    expect(enc.length).to.be.greaterThan(0);
    expect(dec.length).to.be.greaterThan(0);
    let e0 = snapshot(enc),
      d0 = snapshot(dec);
    await train(m, s, { steps: 3, learningRate: 1e-3, warmupSteps: 2, freezeEncoderSteps: 3 });
    expect(changed(enc, e0), 'encoder variables changed while frozen').to.equal(0);
    expect(changed(dec, d0), 'decoder variables changed').to.equal(dec.length);
    e0 = snapshot(enc);
    d0 = snapshot(dec);
    await train(m, s, { steps: 2, learningRate: 1e-3, freezeEncoderSteps: 1 });
    expect(changed(enc, e0), 'encoder variables after the frozen steps').to.equal(enc.length);
    disposeModel(m);
  });

  it('fine-tuning on a shifted domain lowers the masked loss and moves predictions toward the sparse labels', async function () {
    const m = deserializeModel(archive);
    const labels = sparseLabels();
    const samples = [{ image: normalizeImage(shifted.image, m.normalization), labels }];
    const fixed: Batch = samplerOf(m, samples, 9, false).next();
    const loss0 = batchLoss(m, fixed);
    const agree0 = await agreement(m, labels);
    await train(m, samplerOf(m, samples, 1), { ...FINETUNE_OPTIONS, steps: 120 });
    const loss1 = batchLoss(m, fixed);
    const agree1 = await agreement(m, labels);
    this.test!.title += ` [masked loss ${loss0.toFixed(3)} -> ${loss1.toFixed(3)}, agreement with labels ${agree0.toFixed(3)} -> ${agree1.toFixed(3)}]`;
    expect(Number.isFinite(loss0) && loss0 > 0).to.equal(true);
    expect(loss1).to.be.below(0.8 * loss0);
    expect(agree1).to.be.above(agree0);
    expect(agree1).to.be.above(0.9);
    disposeModel(m);
  });

  it('unlabeled pixels give exactly zero gradient to the starter weights (their targets do not matter)', () => {
    const m = deserializeModel(archive);
    const labels = sparseLabels();
    const b = samplerOf(m, [{ image: normalizeImage(shifted.image, m.normalization), labels }], 5, false).next();
    // Garbage targets wherever every weight channel is 0 (the unlabeled pixels).
    const garbage: Batch = { ...b, target: b.target.slice() };
    const px = b.batchSize * b.height * b.width;
    let unlabeled = 0;
    for (let p = 0; p < px; p++) {
      let w = 0;
      for (let c = 0; c < b.weightChannels; c++) w += b.weight[p * b.weightChannels + c];
      if (w !== 0) continue;
      unlabeled++;
      for (let c = 0; c < b.targetChannels; c++) garbage.target[p * b.targetChannels + c] = ((p * 7 + c * 13) % 17) - 8;
    }
    expect(unlabeled, 'the batch has unlabeled pixels').to.be.greaterThan(px / 10);
    expect(unlabeled, 'the batch has labeled pixels').to.be.below(px);
    const grads = (batch: Batch, vars: tf.Variable[]) =>
      tf.tidy(() => {
        const { x, target, weight } = batchTensors(batch);
        const { grads: g } = tf.variableGrads(() => m.family.loss(unetForward(m.unet, x), target, weight, m.config) as tf.Scalar, vars);
        return vars.map((v) => g[v.name].dataSync().slice());
      });
    for (const vars of [unetVariables(m.unet), unetDecoderVariables(m.unet)]) {
      const a = grads(b, vars),
        g = grads(garbage, vars);
      expect(
        a.some((t) => t.some((v) => v !== 0)),
        'labeled pixels give a gradient',
      ).to.equal(true);
      for (let i = 0; i < a.length; i++) expect(Array.from(g[i])).to.deep.equal(Array.from(a[i]));
    }
    disposeModel(m);
  });
});
