/** Bounded memory: beyond maxLoadedPerWorker, idle sessions are checkpointed, unloaded, and reload unchanged. */
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { nd } from '../helpers/arrays.js';
import { blobImage, expectObjects, sessionWithTrainedModel, trainedBlobsModel } from '../helpers/trained-model.js';
import { SERVICE_DEFAULTS } from '../../server/training/service.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import type { SparsecellClient } from '../../clients/typescript/src/client.js';

describe('model service: bounded models per worker', function () {
  this.timeout(120000);
  let d: TestDaemon;
  let c: SparsecellClient;
  const saved = SERVICE_DEFAULTS.maxLoadedPerWorker;
  before(async () => {
    await trainedBlobsModel(); // trained once per test run (helpers/trained-model.ts)
    SERVICE_DEFAULTS.maxLoadedPerWorker = 1;
    d = await startTestDaemon();
    c = await d.connect();
  });
  after(async () => {
    SERVICE_DEFAULTS.maxLoadedPerWorker = saved;
    await c.close();
    await d.stop();
  });

  it('evicts the least recently used idle model and reloads it from its checkpoint with identical predictions', async () => {
    const blobs = blobImage(9, 6);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      // a model that predicts objects, trained on in this session so that its weights differ from the imported ones
      const sessionId = await sessionWithTrainedModel(c, blobs);
      await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
      const { jobId } = await c.call('model.train', { sessionId, steps: 4 + i, options: { patchSize: 32, batchSize: 2, seed: i } });
      expect((await c.waitForProgressEnd(jobId)).state).to.equal('done');
      ids.push(sessionId);
    }
    const loaded = () => {
      const computes = (d.daemon.models as unknown as { computes: Map<string, { loaded: boolean }> }).computes;
      return ids.map((id) => computes.get(id)?.loaded ?? false);
    };
    const a1 = await c.call('model.predict', { sessionId: ids[0], imageId: 'img1' }); // loads A, evicts B
    expect(loaded()).to.deep.equal([true, false]);
    const b1 = await c.call('model.predict', { sessionId: ids[1], imageId: 'img1' }); // loads B, evicts A
    expect(loaded()).to.deep.equal([false, true]);
    const a2 = await c.call('model.predict', { sessionId: ids[0], imageId: 'img1' });
    expect(loaded()).to.deep.equal([true, false]);
    expectObjects(b1.labels, blobs, 'B');
    expect(decodeNdArray(a2.labels, { maxElements: 1e6 }).data).to.deep.equal(expectObjects(a1.labels, blobs, 'A before its eviction'));
    expect(a2.modelVersion).to.equal(a1.modelVersion);
    expect(b1.modelVersion).to.be.greaterThan(0);
  });
});
