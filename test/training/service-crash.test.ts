/** A compute worker that dies is replaced; the session's model comes back from its checkpoint. */
import { expect } from 'chai';
import { useDaemon } from '../helpers/daemon.js';
import { nd } from '../helpers/arrays.js';
import { blobImage, expectObjects, sessionWithTrainedModel, trainedBlobsModel } from '../helpers/trained-model.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import type { ComputeWorker } from '../../server/training/compute-worker.js';

describe('model service: compute worker crash', function () {
  this.timeout(120000);
  before(async () => {
    await trainedBlobsModel(); // trained once per test run (helpers/trained-model.ts)
  });
  const t = useDaemon();

  it('fails the running job, restarts the worker, and serves the checkpointed model again', async () => {
    const blobs = blobImage(12, 6);
    // a model that predicts objects, trained on in this session (the checkpoint is the trained one, not the import)
    const sessionId = await sessionWithTrainedModel(t.c, blobs);
    await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
    const first = await t.c.call('model.train', { sessionId, steps: 5, options: { patchSize: 32, batchSize: 2 } });
    expect((await t.c.waitForProgressEnd(first.jobId)).state).to.equal('done');
    const before = await t.c.call('model.predict', { sessionId, imageId: 'img1' });
    const beforeLabels = expectObjects(before.labels, blobs, 'before the crash');
    const backendBefore = (await t.c.call('server.info', {})).backend.name;

    const { jobId } = await t.c.call('model.train', { sessionId, steps: 100000, options: { patchSize: 32, batchSize: 2 } });
    const end = t.c.waitForProgressEnd(jobId);
    await new Promise((r) => setTimeout(r, 500));
    const svc = t.d.daemon.models as unknown as { workers: ComputeWorker[] };
    void svc.workers[0].call({ op: 'crash' }).catch(() => undefined);
    const e = await end;
    expect(e.state).to.equal('failed');
    expect(e.error).to.match(/worker/);
    // The daemon still serves, and the model is back from its checkpoint.
    let after;
    for (let i = 0; i < 50 && !after; i++) {
      try {
        after = await t.c.call('model.predict', { sessionId, imageId: 'img1' });
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(after, 'prediction after restart').to.not.equal(undefined);
    expect(decodeNdArray(after!.labels, { maxElements: 1e6 }).data).to.deep.equal(beforeLabels);
    expect(after!.modelVersion).to.equal(before.modelVersion);
    // the replacement worker initialised the same backend (wasm, or tensorflow after `npm run native`)
    expect((await t.c.call('server.info', {})).backend.name).to.equal(backendBefore);
  });
});
