/**
 * StarDist grid 2 over WebSocket: a session created with config {grid: 2} trains, predicts full-resolution labels
 * and polygons, exports and imports with its grid; a bad grid or a patch side the grid-2 network cannot take is
 * refused with -32602 naming the field.
 */
import { expect } from 'chai';
import { useDaemon } from '../helpers/daemon.js';
import { rpcError } from '../helpers/rpc.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import { matching } from '../../server/metrics/matching.js';

describe('e2e: StarDist grid 2 over WebSocket', function () {
  this.timeout(180000);
  const t = useDaemon();
  const H = 64,
    W = 72;
  const blobs = makeBlobs({ height: H, width: W, count: 9, seed: 21 });
  const img = toU8(blobs.image.data);
  const config = { unetDepth: 2, unetFilters: 16, grid: 2 };

  it('train, predict at full resolution, export/import keeps the grid and the predictions', async () => {
    const { sessionId } = await t.c.call('session.create', { family: 'stardist', config });
    await t.c.call('image.add', { sessionId, image: nd(img, [H, W]) });
    const sparse = sparsify(blobs.labels, (id) => id % 2 === 0);
    await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparse.data, [H, W]), encoding: 'signed' });
    const { jobId } = await t.c.call('model.train', { sessionId, steps: 240, options: { patchSize: 64, batchSize: 2, learningRate: 0.003 } });
    const end = await t.c.waitForProgressEnd(jobId, 170000);
    expect(end.state).to.equal('done');
    const pred = await t.c.call('model.predict', { sessionId, imageId: 'img1' });
    expect(pred.labels.shape).to.deep.equal([H, W]);
    const lab = decodeNdArray(pred.labels, { maxElements: 1e6 }).data as Int32Array;
    const m = matching(blobs.labels, { height: H, width: W, data: lab }, 0.5);
    expect(
      m.f1,
      'grid-2 F1 after 240 steps (grid 2 needs more steps than grid 1 on these small blobs: 80 gave none, 160 gave 0.43 in one CI run)',
    ).to.be.greaterThan(0.5);
    expect(pred.polygons.length).to.equal(m.n_pred);
    // a region: labels of the region's size, the same objects as the whole-image prediction there
    const part = await t.c.call('model.predict', { sessionId, imageId: 'img1', region: [8, 10, 50, 61] });
    expect(part.labels.shape).to.deep.equal([42, 51]);

    const exp = await t.c.call('model.export', { sessionId });
    const s2 = await t.c.call('session.create', {});
    await t.c.call('image.add', { sessionId: s2.sessionId, image: nd(img, [H, W]) });
    await t.c.call('model.import', { sessionId: s2.sessionId, model: exp.model });
    const again = await t.c.call('model.predict', { sessionId: s2.sessionId, imageId: 'img1' });
    expect(decodeNdArray(again.labels, { maxElements: 1e6 }).data).to.deep.equal(lab);
    // the imported model keeps training with grid-2 patches
    await t.c.call('labels.update', { sessionId: s2.sessionId, imageId: 'img1', labels: nd(sparse.data, [H, W]), encoding: 'signed' });
    const j2 = await t.c.call('model.train', { sessionId: s2.sessionId, steps: 2, options: { patchSize: 32, batchSize: 1 } });
    expect((await t.c.waitForProgressEnd(j2.jobId, 60000)).state).to.equal('done');
    await t.c.call('session.close', { sessionId: s2.sessionId, delete: true });
    await t.c.call('session.close', { sessionId, delete: true });
  });

  it('a bad grid and a patch side that is not a multiple of grid x 2^depth are refused naming the field', async () => {
    let e = await rpcError(t.c.call('session.create', { family: 'stardist', config: { grid: 3 } }));
    expect(e.code).to.equal(ErrorCode.InvalidParams);
    expect((e.data as { path: string; message: string }[])[0]).to.include({ path: '/config/grid' });
    expect((e.data as { message: string }[])[0].message).to.match(/config\.grid must be one of 1, 2/);

    const { sessionId } = await t.c.call('session.create', { family: 'stardist', config });
    await t.c.call('image.add', { sessionId, image: nd(img, [H, W]) });
    await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [H, W]), encoding: 'signed' });
    // 20 is a multiple of 2^depth = 4 (fine at grid 1) but not of 2 x 4
    e = await rpcError(t.c.call('model.train', { sessionId, steps: 1, options: { patchSize: 20 } }));
    expect(e.code).to.equal(ErrorCode.InvalidParams);
    expect((e.data as { path: string; message: string }[])[0]).to.deep.equal({
      path: '/options/patchSize',
      message: 'patchSize 20 must be a multiple of 8 (grid 2 x 2^unetDepth)',
    });
    e = await rpcError(t.c.call('model.configure', { sessionId, options: { patchSize: 20 } }));
    expect((e.data as { path: string }[])[0].path).to.equal('/options/patchSize');
    e = await rpcError(t.c.call('model.train', { sessionId, steps: 1, config: { ...config, grid: 0 } }));
    expect((e.data as { path: string }[])[0].path).to.equal('/config/grid');
    // the same patch side is fine for a grid-1 session of the same depth
    const g1 = await t.c.call('session.create', { family: 'stardist', config: { unetDepth: 2, unetFilters: 8 } });
    await t.c.call('image.add', { sessionId: g1.sessionId, image: nd(img, [H, W]) });
    await t.c.call('labels.update', { sessionId: g1.sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [H, W]), encoding: 'signed' });
    const j = await t.c.call('model.train', { sessionId: g1.sessionId, steps: 1, options: { patchSize: 20, batchSize: 1 } });
    expect((await t.c.waitForProgressEnd(j.jobId, 60000)).state).to.equal('done');
    await t.c.call('session.close', { sessionId: g1.sessionId, delete: true });
    await t.c.call('session.close', { sessionId, delete: true });
  });
});
