/**
 * A StarDist-like model that really predicts objects on synthetic blobs, trained ONCE per test process through a
 * throw-away daemon and shared as a model archive (`model.import`). Tests that compare predictions before and
 * after something (eviction, a worker crash, export/import, a restart) start from it, so they never compare two
 * empty label maps; `expectObjects` checks that first.
 */
import { expect } from 'chai';
import { startTestDaemon } from './daemon.js';
import { nd, toU8 } from './arrays.js';
import { makeBlobs, type SyntheticSample } from '../../scripts/synthetic.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { matching } from '../../server/metrics/matching.js';
import type { NdArray } from '../../protocol/src/types.js';
import type { SparsecellClient } from '../../clients/typescript/src/client.js';

/**
 * The shared model's session config and training: dense labels on four 64x64 images, 120 steps of 4x64^2 at
 * lr 3e-3 (about 13 s of CPU on wasm, 8 s on the tensorflow backend; it finds 86-100 % of the objects of other
 * blob images at IoU 0.5).
 */
export const TRAINED_CONFIG = { unetDepth: 2, unetFilters: 8 };
const TRAIN_SEEDS = [101, 102, 103, 104];
const TRAIN = { steps: 120, options: { patchSize: 64, batchSize: 4, learningRate: 3e-3, seed: 1 } };

/** A 64x64 blob image (objects of radius 4-8 px on a dark background), as the training images. */
export const blobImage = (seed: number, count = 8): SyntheticSample => makeBlobs({ height: 64, width: 64, count, seed });

let archive: Promise<string> | undefined;

/** The base64 model archive (what model.export returns), trained on first use (call it from a `before` hook). */
export function trainedBlobsModel(): Promise<string> {
  archive ??= (async () => {
    const d = await startTestDaemon();
    try {
      const c = await d.connect();
      const { sessionId } = await c.call('session.create', { name: 'shared-trained-model', config: TRAINED_CONFIG });
      for (const seed of TRAIN_SEEDS) {
        const b = blobImage(seed);
        const { imageId } = await c.call('image.add', { sessionId, image: nd(toU8(b.image.data), [64, 64]) });
        await c.call('labels.update', { sessionId, imageId, labels: nd(b.labels.data, [64, 64]), encoding: 'signed' });
      }
      const { jobId } = await c.call('model.train', { sessionId, ...TRAIN });
      const end = await c.waitForProgressEnd(jobId);
      if (end.state !== 'done') throw new Error(`training the shared model ended ${end.state}`);
      const { model } = await c.call('model.export', { sessionId });
      await c.close();
      return model;
    } finally {
      await d.stop();
    }
  })();
  return archive;
}

/** Create a session, add the blob image as img1 and import the shared trained model. */
export async function sessionWithTrainedModel(c: SparsecellClient, blobs: SyntheticSample): Promise<string> {
  const { sessionId } = await c.call('session.create', { config: TRAINED_CONFIG });
  await c.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [blobs.image.height, blobs.image.width]) });
  await c.call('model.import', { sessionId, model: await trainedBlobsModel() });
  return sessionId;
}

/**
 * The predicted labels, after checking that the prediction finds most of the true objects (IoU >= 0.5), so that
 * comparing two predictions compares objects, not two empty maps.
 */
export function expectObjects(labels: NdArray, truth: SyntheticSample, what = 'prediction'): Int32Array {
  const data = decodeNdArray(labels, { maxElements: 1e6 }).data as Int32Array;
  const [h, w] = labels.shape;
  const m = matching(truth.labels, { height: h, width: w, data }, 0.5);
  expect(m.tp, `${what}: ${m.tp} of ${truth.count} objects found (${m.n_pred} predicted)`).to.be.at.least(Math.ceil(truth.count / 2));
  return data;
}
