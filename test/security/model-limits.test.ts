/**
 * Issue 16, findings 8 (crafted archives) and 11: model.predict caps its objects (maxObjects, truncated), model.import
 * keeps the model's lineage, and hostile archives are refused with InvalidModel without allocating what they declare.
 */
import { expect } from 'chai';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import { SparsecellClient } from '../../clients/typescript/src/client.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import type { ProgressParams } from '../../protocol/src/progress.js';
import { craftedArchive, headerOnlyArchive, modelSpec } from '../../scripts/attack-fixtures.js';
import { rpcError } from '../helpers/rpc.js';

const TINY = { unetDepth: 2, unetFilters: 8 };
const TINY_UNET = { inputChannels: 1, outputChannels: 33, depth: 2, filters: 8, seed: 42 };
const b64 = (u8: Uint8Array) => Buffer.from(u8).toString('base64');

describe('security: prediction and model archive limits', () => {
  let d: TestDaemon;
  let c: SparsecellClient;
  let trained: string;
  const blobs = makeBlobs({ height: 64, width: 64, count: 8, seed: 4 });
  const session = async () => {
    const { sessionId } = await c.call('session.create', { config: TINY });
    await c.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [64, 64]) });
    return sessionId;
  };
  before(async () => {
    d = await startTestDaemon({ maxObjects: 7 });
    c = await d.connect();
    trained = await session();
    await c.call('labels.update', { sessionId: trained, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
    const ends: ProgressParams[] = [];
    c.onProgress((p) => p.kind === 'end' && ends.push(p));
    // two jobs, so the model's version is above 1 whatever the backend's speed (a version counts training slices)
    for (const n of [1, 2]) {
      await c.call('model.train', { sessionId: trained, steps: 3, options: { patchSize: 32, batchSize: 2 } });
      while (ends.length < n) await new Promise((r) => setTimeout(r, 20));
    }
  });
  after(async () => {
    await c.close();
    await d.stop();
  });

  it('model.predict returns at most maxObjects objects (default from server.info.limits) and says truncated', async () => {
    const all = await c.call('model.predict', { sessionId: trained, imageId: 'img1', probThresh: 0, maxObjects: 100000 });
    expect(all.polygons.length).to.be.greaterThan(7);
    expect(all).to.not.have.property('truncated');
    const capped = await c.call('model.predict', { sessionId: trained, imageId: 'img1', probThresh: 0, maxObjects: 3 });
    expect(capped.polygons).to.have.length(3);
    expect(capped.truncated).to.equal(true);
    const ids = new Set(Array.from(decodeNdArray(capped.labels, { maxElements: 1e6 }).data).filter((v) => v > 0));
    expect(ids.size).to.be.within(1, 3);
    expect(capped.polygons.map((p) => p.score)).to.deep.equal(all.polygons.slice(0, 3).map((p) => p.score)); // the best ones
    expect((await c.call('server.info', {})).limits.maxObjects).to.equal(7);
    const byDefault = await c.call('model.predict', { sessionId: trained, imageId: 'img1', probThresh: 0 });
    expect(byDefault.polygons.length).to.be.at.most(7);
    expect(byDefault.truncated).to.equal(true);
  });

  it('model.import keeps the model lineage: modelVersion continues instead of restarting at 1', async () => {
    const exported = await c.call('model.export', { sessionId: trained });
    expect(exported.modelVersion).to.be.greaterThan(1);
    const fresh = await session();
    const imported = await c.call('model.import', { sessionId: fresh, model: exported.model });
    expect(imported.modelVersion).to.equal(exported.modelVersion);
    expect((await c.call('model.predict', { sessionId: fresh, imageId: 'img1' })).modelVersion).to.equal(exported.modelVersion);
    // importing into the session it came from still moves the version forward
    const again = await c.call('model.import', { sessionId: trained, model: exported.model });
    expect(again.modelVersion).to.equal(exported.modelVersion + 1);
  });

  it('crafted archives (huge filter counts, shapes of 1e9, NaN weights, bad shapes) are refused with InvalidModel', async () => {
    const target = await session();
    const good = craftedArchive(modelSpec(TINY_UNET));
    const ok = await c.call('model.import', { sessionId: target, model: b64(good) });
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['huge filter counts', headerOnlyArchive(modelSpec({ ...TINY_UNET, depth: 6, filters: 512 }), []), /missing tensor/],
      ['shape 1e9', headerOnlyArchive(modelSpec(TINY_UNET), [{ name: 'enc0/conv1/kernel', shape: [1e9] }]), /truncated data/],
      ['shape 1e9 x 1e9', headerOnlyArchive(modelSpec(TINY_UNET), [{ name: 'x', shape: [1e9, 1e9, 1e9] }]), /invalid shape|truncated data/],
      ['negative shape', headerOnlyArchive(modelSpec(TINY_UNET), [{ name: 'x', shape: [-4] }]), /invalid shape/],
      ['NaN weights', craftedArchive(modelSpec(TINY_UNET), (i) => (i === 5 ? NaN : 0.01)), /holds NaN/],
      ['Infinity weights', craftedArchive(modelSpec(TINY_UNET), () => Infinity), /holds Infinity/],
      ['channels that disagree with the family', craftedArchive(modelSpec({ ...TINY_UNET, outputChannels: 5 })), /channels/],
      ['not an archive', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), /bad magic/],
    ];
    for (const [what, archive, msg] of cases) {
      const t0 = Date.now();
      const e = await rpcError(c.call('model.import', { sessionId: target, model: b64(archive) }));
      expect(e.code, `${what}: ${e.message}`).to.equal(ErrorCode.InvalidModel);
      expect(e.message, what).to.match(msg);
      expect(Date.now() - t0, what).to.be.lessThan(5000);
    }
    // the session keeps the model it had
    expect((await c.call('model.predict', { sessionId: target, imageId: 'img1' })).modelVersion).to.equal(ok.modelVersion);
  });
});
