/** Every model family behind the same wire: create with a family, train, predict, export/import, no leaks. */
import { expect } from 'chai';
import { useDaemon } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { matching } from '../../server/metrics/matching.js';
import type { FamilyName } from '../../protocol/src/types.js';

const FAMILIES: FamilyName[] = ['stardist', 'cellpose', 'elephant'];

describe('e2e: every model family over WebSocket', function () {
  this.timeout(180000);
  const t = useDaemon();
  const blobs = makeBlobs({ height: 64, width: 64, count: 8, seed: 21 });
  const img = toU8(blobs.image.data);

  for (const family of FAMILIES) {
    it(`${family}: train on half the objects, predict finds objects, export/import round trip`, async () => {
      const { sessionId, family: f } = await t.c.call('session.create', { family, config: { unetDepth: 2, unetFilters: 16 } });
      expect(f).to.equal(family);
      await t.c.call('image.add', { sessionId, image: nd(img, [64, 64]) });
      const sparse = sparsify(blobs.labels, (id) => id % 2 === 0);
      await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparse.data, [64, 64]), encoding: 'signed' });
      const { jobId } = await t.c.call('model.train', { sessionId, steps: 80, options: { patchSize: 64, batchSize: 2, learningRate: 0.003 } });
      const end = await t.c.waitForProgressEnd(jobId, 170000);
      expect(end.state).to.equal('done');
      const pred = await t.c.call('model.predict', { sessionId, imageId: 'img1' });
      const lab = decodeNdArray(pred.labels, { maxElements: 1e6 }).data as Int32Array;
      const m = matching(blobs.labels, { height: 64, width: 64, data: lab }, 0.5);
      expect(m.f1, `${family} F1 after 80 steps`).to.be.greaterThan(0.5);
      expect(pred.polygons.length).to.equal(m.n_pred);
      const exp = await t.c.call('model.export', { sessionId });
      expect(exp.family).to.equal(family);
      const s2 = await t.c.call('session.create', {});
      await t.c.call('image.add', { sessionId: s2.sessionId, image: nd(img, [64, 64]) });
      expect((await t.c.call('model.import', { sessionId: s2.sessionId, model: exp.model })).family).to.equal(family);
      expect((await t.c.call('session.get', { sessionId: s2.sessionId })).family).to.equal(family);
      const again = await t.c.call('model.predict', { sessionId: s2.sessionId, imageId: 'img1' });
      expect(decodeNdArray(again.labels, { maxElements: 1e6 }).data).to.deep.equal(lab);
      await t.c.call('session.close', { sessionId: s2.sessionId, delete: true });
      await t.c.call('session.close', { sessionId, delete: true });
    });
  }

  it('switching family in model.train starts a fresh model of that family', async () => {
    const { sessionId } = await t.c.call('session.create', { config: { unetDepth: 2, unetFilters: 8 } });
    await t.c.call('image.add', { sessionId, image: nd(img, [64, 64]) });
    await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
    const { jobId } = await t.c.call('model.train', { sessionId, family: 'elephant', steps: 3, options: { patchSize: 32, batchSize: 2 } });
    await t.c.waitForProgressEnd(jobId);
    expect((await t.c.call('model.export', { sessionId })).family).to.equal('elephant');
  });
});
