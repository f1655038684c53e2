/** Bounded memory: beyond maxLoadedPerWorker, idle sessions are checkpointed, unloaded, and reload unchanged. */
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import { SERVICE_DEFAULTS } from '../../server/training/service.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import type { SparsecellClient } from '../../clients/typescript/src/client.js';

describe('model service: bounded models per worker', function () {
  this.timeout(120000);
  let d: TestDaemon;
  let c: SparsecellClient;
  const saved = SERVICE_DEFAULTS.maxLoadedPerWorker;
  before(async () => {
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
    const blobs = makeBlobs({ height: 64, width: 64, count: 6, seed: 9 });
    const img = toU8(blobs.image.data);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { sessionId } = await c.call('session.create', { config: { unetDepth: 2, unetFilters: 8 } });
      await c.call('image.add', { sessionId, image: nd(img, [64, 64]) });
      await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
      const { jobId } = await c.call('model.train', { sessionId, steps: 4 + i, options: { patchSize: 32, batchSize: 2, seed: i } });
      await c.waitForProgressEnd(jobId);
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
    expect(decodeNdArray(a2.labels, { maxElements: 1e6 }).data).to.deep.equal(decodeNdArray(a1.labels, { maxElements: 1e6 }).data);
    expect(a2.modelVersion).to.equal(a1.modelVersion);
    expect(b1.modelVersion).to.be.greaterThan(0);
  });
});
