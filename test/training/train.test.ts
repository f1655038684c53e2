import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { useBackend } from '../tensor/helpers.js';
import { createModel, deserializeModel, disposeModel, serializeModel, type SegmentationModel } from '../../server/models/segmentation-model.js';
import { createSampler, train, type TrainProgress } from '../../server/training/train.js';
import { predictImage } from '../../server/training/predict.js';
import { normalizeImage } from '../../server/imaging/normalize.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import type { StarDistConfig } from '../../server/models/stardist/config.js';
import { overfitHidden, samplerFor, samples } from '../helpers/family-training.js';

function tiny(): SegmentationModel<StarDistConfig> {
  return createModel<StarDistConfig>('stardist', { nRays: 16, unetDepth: 2, unetFilters: 16 }, { seed: 7 });
}

describe('training loop and prediction', () => {
  before(() => useBackend('wasm'));

  it('a train step leaks no tensors; progress and checkpoints are reported; abort stops', async () => {
    const m = tiny();
    const s = samplerFor(m, 1, 32);
    await train(m, s, { steps: 1 }); // warm-up (kernel setup, optimizer)
    const before = tf.memory().numTensors;
    const progress: TrainProgress[] = [];
    const checkpoints: number[] = [];
    const r = await train(
      m,
      s,
      { steps: 3, checkpointEvery: 2 },
      {
        onProgress: (p) => progress.push(p),
        onCheckpoint: (k) => {
          checkpoints.push(k);
        },
      },
    );
    expect(tf.memory().numTensors).to.equal(before);
    expect(r).to.include({ steps: 3, stoppedBy: 'steps' });
    expect(progress.map((p) => p.step)).to.deep.equal([1, 2, 3]);
    expect(progress[2].etaS).to.equal(0);
    expect(checkpoints).to.deep.equal([2, 3]);
    const ac = new AbortController();
    const r2 = await train(
      m,
      s,
      { steps: 100 },
      {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.step === 2) ac.abort();
        },
      },
    );
    expect(r2).to.include({ steps: 2, stoppedBy: 'abort' });
    const cs = createSampler(m, samples, { patchSize: 30, batchSize: 2 });
    expect(cs.patchSize).to.equal(28);
    expect(cs.next().batchSize).to.equal(2);
    expect(tf.memory().numTensors).to.equal(before);
    disposeModel(m);
  });

  it('tiled prediction equals untiled; prediction leaks no tensors; archive round trip predicts identically', async () => {
    const m = tiny();
    const big = normalizeImage(makeBlobs({ height: 72, width: 100, count: 12, seed: 5 }).image);
    await predictImage(m, big, { normalized: true, tileSize: 128 });
    const before = tf.memory().numTensors;
    const whole = await predictImage(m, big, { normalized: true, tileSize: 128 });
    expect(tf.memory().numTensors).to.equal(before);
    const progress: number[] = [];
    const tiled = await predictImage(m, big, { normalized: true, tileSize: 64, overlap: 24, onProgress: (p) => progress.push(p.done) });
    expect(progress.length).to.be.greaterThan(3);
    let worst = 0;
    for (let i = 0; i < whole.data.length; i++) worst = Math.max(worst, Math.abs(whole.data[i] - tiled.data[i]));
    expect(worst).to.be.below(1e-4);
    const copy = deserializeModel<StarDistConfig>(serializeModel(m));
    expect(copy.config).to.deep.equal(m.config);
    const again = await predictImage(copy, big, { normalized: true, tileSize: 128 });
    expect(Buffer.from(again.data.buffer).equals(Buffer.from(whole.data.buffer))).to.equal(true);
    const ac = new AbortController();
    ac.abort();
    let err: unknown;
    try {
      await predictImage(m, big, { signal: ac.signal });
    } catch (e) {
      err = e;
    }
    expect((err as Error).name).to.equal('AbortError');
    disposeModel(m);
    disposeModel(copy);
  });

  it('a tiny model overfits sparse labels and finds the UNLABELED objects too', async function () {
    const m = tiny();
    const r = await overfitHidden(m);
    this.test!.title +=
      ` [loss ${r.loss.toFixed(3)}, hidden objects found ${r.foundHidden.toFixed(2)}, F1 all ${r.f1.toFixed(2)}, n_pred ${r.nPred}/${r.nTrue}]`;
    expect(r.foundHidden).to.be.at.least(0.6);
    expect(r.f1).to.be.at.least(0.6);
    disposeModel(m);
  });
});
