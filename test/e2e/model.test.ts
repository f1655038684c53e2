/** Model methods over a real WebSocket server: train with progress, cancel, predict, export/import, errors. */
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { blobImage, expectObjects, sessionWithTrainedModel, trainedBlobsModel } from '../helpers/trained-model.js';
import { SparsecellClient, RpcException } from '../../clients/typescript/src/client.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import type { ProgressParams } from '../../protocol/src/progress.js';

const TINY = { unetDepth: 2, unetFilters: 8 };
const OPTS = { patchSize: 32, batchSize: 2 };

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcException) return e.code;
    throw e;
  }
  throw new Error('expected an RPC error');
}

describe('e2e: model methods', () => {
  let d: TestDaemon;
  let c: SparsecellClient;
  let sessionId: string;
  const blobs = blobImage(3, 8);
  before(async function () {
    this.timeout(180_000); // trains the shared model once per run: ~15 s on an idle 2-core machine
    await trainedBlobsModel(); // a model that predicts objects, trained once per test run (helpers/trained-model.ts)
    d = await startTestDaemon();
    c = await d.connect();
    ({ sessionId } = await c.call('session.create', { name: 'model', config: TINY }));
    const img = toU8(blobs.image.data);
    await c.call('image.add', { sessionId, image: nd(img, [64, 64]) });
  });
  after(async () => {
    await c.close();
    await d.stop();
  });

  it('answers clear errors before anything is trained', async () => {
    expect(await code(c.call('model.predict', { sessionId, imageId: 'img1' }))).to.equal(ErrorCode.ModelNotTrained);
    expect(await code(c.call('model.export', { sessionId }))).to.equal(ErrorCode.ModelNotTrained);
    expect(await code(c.call('model.train', { sessionId, steps: 5 }))).to.equal(ErrorCode.InvalidLabels); // nothing labeled yet
    expect(await code(c.call('model.cancel', { jobId: 'nojob' }))).to.equal(ErrorCode.JobNotFound);
  });

  it('rejects a bad family config with -32602 naming the field, before storing it', async () => {
    let err: RpcException | undefined;
    try {
      await c.call('session.create', { config: { nRays: 3 } });
    } catch (e) {
      err = e as RpcException;
    }
    expect(err?.code).to.equal(ErrorCode.InvalidParams);
    expect((err!.data as { path: string }[])[0].path).to.equal('/config/nRays');
    const s = await c.call('session.create', { family: 'cellpose' });
    await c.call('image.add', { sessionId: s.sessionId, image: nd(new Uint8Array(64 * 64), [64, 64]) });
    await c.call('labels.update', { sessionId: s.sessionId, imageId: 'img1', labels: nd(new Int32Array(64 * 64), [64, 64]), encoding: 'signed' });
    expect(await code(c.call('model.train', { sessionId: s.sessionId, steps: 2, config: { niter: 0 } }))).to.equal(ErrorCode.InvalidParams);
    expect(await code(c.call('model.train', { sessionId: s.sessionId, steps: 2, family: 'elephant', config: { nRays: 32 } }))).to.equal(
      ErrorCode.InvalidParams,
    );
    expect((await c.call('session.get', { sessionId: s.sessionId })).config).to.deep.equal({}); // nothing stored
  });

  it('two model.train calls at once: one starts, the other is SessionBusy', async () => {
    const s = await c.call('session.create', { config: TINY });
    await c.call('image.add', { sessionId: s.sessionId, image: nd(new Uint8Array(64 * 64), [64, 64]) });
    await c.call('labels.update', { sessionId: s.sessionId, imageId: 'img1', labels: nd(new Int32Array(64 * 64), [64, 64]), encoding: 'signed' });
    const both = await Promise.allSettled([0, 1].map(() => c.call('model.train', { sessionId: s.sessionId, steps: 100000, options: OPTS })));
    expect(both.filter((r) => r.status === 'fulfilled')).to.have.length(1);
    const rejected = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as RpcException).code).to.equal(ErrorCode.SessionBusy);
    await c.call('model.cancel', { jobId: (both.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ jobId: string }>).value.jobId });
  });

  it('trains from sparse labels with $/progress begin/report/end, then predicts labels + polygons', async () => {
    const sparse = sparsify(blobs.labels, (id) => id % 2 === 1);
    await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparse.data, [64, 64]), encoding: 'signed' });
    const seen: ProgressParams[] = [];
    c.onProgress((p) => seen.push(p));
    const { jobId } = await c.call('model.train', { sessionId, steps: 12, options: OPTS });
    const end = await c.waitForProgressEnd(jobId, 120000);
    expect(end.state).to.equal('done');
    const mine = seen.filter((p) => p.token === jobId);
    expect(mine[0].kind).to.equal('begin');
    const reports = mine.filter((p) => p.kind === 'report');
    expect(reports.length).to.be.greaterThan(0);
    expect(reports[reports.length - 1].step).to.equal(12);
    expect(reports.every((r) => Number.isFinite(r.loss))).to.equal(true);
    const info = await c.call('session.get', { sessionId });
    expect(info.modelVersion).to.be.greaterThan(0);
    expect(info.jobs.find((j) => j.jobId === jobId)!.state).to.equal('done');

    const pred = await c.call('model.predict', { sessionId, imageId: 'img1', progressToken: 'p1' });
    expect(pred.labels.dtype).to.equal('int32');
    expect(pred.labels.shape).to.deep.equal([64, 64]);
    expect(pred.region).to.deep.equal([0, 0, 64, 64]);
    expect(seen.some((p) => p.token === 'p1' && p.kind === 'end')).to.equal(true);
  });

  it('a trained model (model.import) finds the objects: labels and one polygon per labeled object', async () => {
    // 12 steps from scratch predict little; the tests below compare predictions, so they need a model that finds objects
    const imp = await c.call('model.import', { sessionId, model: await trainedBlobsModel() });
    expect(imp.family).to.equal('stardist');
    const pred = await c.call('model.predict', { sessionId, imageId: 'img1' });
    const lab = expectObjects(pred.labels, blobs, 'imported model');
    const ids = [...new Set(lab)].filter((v) => v > 0).sort((a, b) => a - b);
    expect(pred.polygons.map((p) => p.id).sort((a, b) => a - b)).to.deep.equal(ids);
    expect(pred.polygons.every((p) => p.points.length === 32 && p.score > 0)).to.equal(true);
  });

  it('a Z stack is normalised as one volume: a plane without cells stays dark (its faint haze is not stretched into cells)', async () => {
    const s = await sessionWithTrainedModel(c, blobs);
    // plane 1: no cells, only faint blobs 0.05 above the background (plane by plane they would be stretched to 0..1)
    const haze = makeBlobs({ height: 64, width: 64, count: 6, seed: 4, intensity: [0.15, 0.16], noise: 0.01 });
    const stack = new Uint8Array(2 * 64 * 64);
    stack.set(toU8(blobs.image.data));
    stack.set(toU8(haze.image.data), 64 * 64);
    const { imageId } = await c.call('image.add', { sessionId: s, image: nd(stack, [2, 64, 64]), axes: 'ZYX' });
    expectObjects((await c.call('model.predict', { sessionId: s, imageId, z: 0 })).labels, blobs, 'plane 0');
    const z1 = await c.call('model.predict', { sessionId: s, imageId, z: 1 });
    const found = new Set(decodeNdArray(z1.labels, { maxElements: 1e6 }).data as Int32Array);
    expect(found.size - (found.has(0) ? 1 : 0), 'objects on the plane without cells').to.equal(0);
    expect(z1.polygons).to.deep.equal([]);
  });

  it('predicts a region and refuses regions outside the image', async () => {
    const r = await c.call('model.predict', { sessionId, imageId: 'img1', region: [8, 16, 40, 48] });
    expect(r.labels.shape).to.deep.equal([32, 32]);
    expect(await code(c.call('model.predict', { sessionId, imageId: 'img1', region: [0, 0, 65, 10] }))).to.equal(ErrorCode.ShapeMismatch);
  });

  it('predict while training: answered between the steps of a running job, before it ends, with objects', async () => {
    const seen: ProgressParams[] = [];
    const off = c.onProgress((p) => seen.push(p));
    const { jobId } = await c.call('model.train', { sessionId, steps: 100000, options: OPTS });
    const mine = () => seen.filter((p) => p.token === jobId);
    const lastStep = () =>
      Math.max(
        0,
        ...mine()
          .filter((p) => p.kind === 'report')
          .map((p) => p.step ?? 0),
      );
    const until = async (ok: () => boolean, what: string) => {
      for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 20)))
        if (Date.now() - t0 > 30000) throw new Error(`timed out waiting for ${what}`);
    };
    await until(() => lastStep() > 0, 'the first training step'); // the job really trains
    expect(await code(c.call('model.train', { sessionId, steps: 5 }))).to.equal(ErrorCode.SessionBusy);
    const p = await c.call('model.predict', { sessionId, imageId: 'img1' });
    expect(
      mine().some((q) => q.kind === 'end'),
      'the job ended before the prediction came back',
    ).to.equal(false);
    const stepAtAnswer = lastStep();
    expect((await c.call('session.get', { sessionId })).jobs.find((j) => j.jobId === jobId)!.state).to.equal('running');
    expectObjects(p.labels, blobs, 'prediction while training');
    await until(() => lastStep() > stepAtAnswer, 'a training step after the prediction'); // and the job goes on
    const endP = c.waitForProgressEnd(jobId);
    const r = await c.call('model.cancel', { jobId });
    expect(r).to.deep.equal({ cancelled: true, state: 'cancelled' });
    expect((await endP).state).to.equal('cancelled');
    expect(await c.call('model.cancel', { jobId })).to.deep.equal({ cancelled: false, state: 'cancelled' });
    off();
  });

  it('$/cancelRequest cancels an in-flight prediction', async () => {
    const big = new Uint8Array(1024 * 1024);
    const { imageId } = await c.call('image.add', { sessionId, image: nd(big, [1024, 1024]) });
    const pending = c.callWithId('pred-x', 'model.predict', { sessionId, imageId });
    setTimeout(() => c.cancelRequest('pred-x'), 30);
    let err: unknown;
    try {
      await pending;
    } catch (e) {
      err = e;
    }
    expect((err as RpcException).code).to.equal(ErrorCode.RequestCancelled);
  });

  it('export -> import into a new session gives the same prediction', async () => {
    const exp = await c.call('model.export', { sessionId });
    expect(exp.family).to.equal('stardist');
    expect(exp.bytes).to.be.greaterThan(1000);
    const s2 = await c.call('session.create', {});
    const img = toU8(blobs.image.data);
    await c.call('image.add', { sessionId: s2.sessionId, image: nd(img, [64, 64]) });
    const imp = await c.call('model.import', { sessionId: s2.sessionId, model: exp.model });
    expect(imp.family).to.equal('stardist');
    const a = await c.call('model.predict', { sessionId, imageId: 'img1' });
    const b = await c.call('model.predict', { sessionId: s2.sessionId, imageId: 'img1' });
    expect(decodeNdArray(b.labels, { maxElements: 1e6 }).data).to.deep.equal(expectObjects(a.labels, blobs, 'exported model'));
    expect(await code(c.call('model.import', { sessionId: s2.sessionId, model: Buffer.from('garbage!').toString('base64') }))).to.equal(ErrorCode.InvalidModel);
  });

  it('the checkpoint survives a daemon restart', async () => {
    const before = await c.call('model.predict', { sessionId, imageId: 'img1' });
    const home = d.home;
    await c.close();
    await d.daemon.close();
    d = await startTestDaemon({ home });
    c = await d.connect();
    const after = await c.call('model.predict', { sessionId, imageId: 'img1' });
    expect(decodeNdArray(after.labels, { maxElements: 1e6 }).data).to.deep.equal(expectObjects(before.labels, blobs, 'before the restart'));
  });
});
