/**
 * The OpenRPC document describes the wire: requests and answers captured from a live daemon (raw frames, every
 * method, successes and application errors) are checked against the document that daemon serves on
 * rpc.discover, with the official OpenRPC tooling for params and ajv for results and notifications.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { RawConnection, type Exchange } from '../helpers/raw-connection.js';
import { openRpcChecker } from '../helpers/openrpc.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { ROOT } from '../../scripts/codegen.js';
import { METHOD_NAMES } from '../../protocol/src/methods.js';
import { ErrorCode } from '../../protocol/src/errors.js';

const TINY = { unetDepth: 2, unetFilters: 8 };

describe('e2e: OpenRPC document vs. the live wire', () => {
  let d: TestDaemon;
  let c: RawConnection;
  before(async () => {
    d = await startTestDaemon({ maxArrayElements: 200_000 });
    c = await RawConnection.open(d.url);
  });
  after(async () => {
    c.close();
    await d.stop();
  });

  it('rpc.discover serves protocol/openrpc.json exactly', async () => {
    const served = (await c.call('rpc.discover', {})).result;
    expect(served).to.deep.equal(JSON.parse(readFileSync(join(ROOT, 'protocol', 'openrpc.json'), 'utf8')));
  });

  it('every captured request, result, error and notification matches the served document', async function () {
    this.timeout(180000);
    const ok = async (method: string, params: unknown) => {
      const r = await c.call(method, params);
      expect(r.error, `${method}: ${JSON.stringify(r.error)}`).to.equal(undefined);
      return r.result as Record<string, any>;
    };
    const fails = async (method: string, params: unknown, code: number) => {
      const r = await c.call(method, params);
      expect(r.error?.code, `${method} ${JSON.stringify(params).slice(0, 120)}`).to.equal(code);
    };

    await ok('server.info', {});
    const { sessionId } = await ok('session.create', { name: 'wire', family: 'stardist', config: TINY, autoBackground: false });
    await ok('session.list', {});
    const blobs = makeBlobs({ height: 64, width: 64, count: 8, seed: 5 });
    await ok('image.add', { sessionId, image: nd(toU8(blobs.image.data), [64, 64]), axes: 'YX', name: 'blobs.png' });
    const tiff = readFileSync(join(ROOT, 'test', 'fixtures', 'tiff', 'be-uint16.tif')).toString('base64');
    await ok('image.add', { sessionId, image: { tiff }, name: 'be-uint16.tif' });
    const { imageId: tyx } = await ok('image.add', { sessionId, image: nd(new Uint8Array(3 * 32 * 32).fill(7), [3, 32, 32]), axes: 'TYX' });
    await ok('session.setView', { sessionId, imageId: tyx, region: [0, 0, 32, 32], t: 1 });
    await ok('session.setView', { sessionId, imageId: 'img1', region: [0, 0, 64, 64] });
    const sparse = sparsify(blobs.labels, (id) => id % 2 === 1);
    await ok('labels.update', { sessionId, imageId: 'img1', labels: nd(sparse.data, [64, 64], true), encoding: 'signed' });
    await ok('labels.update', {
      sessionId,
      imageId: 'img1',
      labels: nd(new Uint16Array(16).fill(1), [4, 4]),
      encoding: 'offset1',
      origin: [0, 0],
      kind: 'correction',
    });
    await ok('labels.get', { sessionId, imageId: 'img1' });
    await ok('labels.get', { sessionId, imageId: 'img1', encoding: 'offset1' });
    await ok('model.configure', { sessionId, options: { learningRate: 0.001 } });
    const { jobId } = await ok('model.train', { sessionId, steps: 3, options: { patchSize: 32, batchSize: 2 }, reset: true });
    const finished = () =>
      c.notifications.some(
        (n) =>
          n.method === '$/event' && (n.params as { type: string; jobId?: string }).type === 'job.finished' && (n.params as { jobId?: string }).jobId === jobId,
      );
    await c.until(finished, 150000, 'job.finished');
    await ok('model.cancel', { jobId });
    await ok('session.get', { sessionId });
    await ok('model.predict', { sessionId, imageId: 'img1', progressToken: 'p1', probThresh: 0.5, nmsThresh: 0.4 });
    await ok('model.predict', { sessionId, imageId: tyx, region: [0, 0, 16, 16], z: 2 });
    await ok('model.suggest', { sessionId, imageId: 'img1', count: 3 });
    await ok('model.suggest', { sessionId, imageId: tyx, region: [0, 0, 16, 16], z: 2, reasons: ['uncertain'] });
    const { model } = await ok('model.export', { sessionId });
    await ok('model.import', { sessionId, model });

    // Application errors, each from params the schema accepts.
    const other = (await ok('session.create', { config: TINY })).sessionId as string;
    await ok('image.add', { sessionId: other, image: nd(new Uint8Array(32 * 32), [32, 32]) });
    await fails('session.get', { sessionId: 'nosuchsession' }, ErrorCode.SessionNotFound);
    await fails('image.add', { sessionId, image: nd(new Uint8Array(8), [2, 4]), axes: 'ZYX' }, ErrorCode.ShapeMismatch);
    await fails('image.add', { sessionId, image: nd(new Uint8Array(1), [1]), axes: 'YX' }, ErrorCode.ShapeMismatch);
    await fails('image.add', { sessionId, image: { shape: [1000, 1000], dtype: 'uint8', data: '' } }, ErrorCode.ResourceLimit);
    await fails('image.add', { sessionId, image: { tiff: Buffer.from('not a tiff at all').toString('base64') } }, ErrorCode.InvalidImage);
    await fails(
      'labels.update',
      { sessionId, imageId: 'img9', labels: nd(new Int32Array(4), [2, 2]), encoding: 'signed', origin: [0, 0] },
      ErrorCode.ImageNotFound,
    );
    await fails(
      'labels.update',
      { sessionId, imageId: 'img1', labels: nd(Int32Array.from([-2, 0, 0, 0]), [2, 2]), encoding: 'signed', origin: [0, 0] },
      ErrorCode.InvalidLabels,
    );
    await fails(
      'labels.update',
      { sessionId, imageId: 'img1', labels: nd(new Int32Array(4), [2, 2]), encoding: 'signed', origin: [63, 63] },
      ErrorCode.ShapeMismatch,
    );
    await fails('labels.get', { sessionId, imageId: 'img9' }, ErrorCode.ImageNotFound);
    await fails('session.setView', { sessionId, imageId: 'img1', region: [0, 0, 65, 10] }, ErrorCode.ShapeMismatch);
    await fails('model.train', { sessionId: other, steps: 2 }, ErrorCode.InvalidLabels);
    await fails('model.predict', { sessionId: other, imageId: 'img1' }, ErrorCode.ModelNotTrained);
    await fails('model.predict', { sessionId, imageId: 'img1', region: [0, 0, 65, 10] }, ErrorCode.ShapeMismatch);
    await fails('model.suggest', { sessionId, imageId: 'img1', region: [0, 0, 65, 10] }, ErrorCode.ShapeMismatch);
    await fails('model.suggest', { sessionId: other }, ErrorCode.ModelNotTrained);
    await fails('model.export', { sessionId: other }, ErrorCode.ModelNotTrained);
    await fails('model.import', { sessionId: other, model: Buffer.from('garbage').toString('base64') }, ErrorCode.InvalidModel);
    await fails('model.cancel', { jobId: 'nosuchjob' }, ErrorCode.JobNotFound);
    await fails('model.configure', { sessionId: 'nosuchsession', options: {} }, ErrorCode.SessionNotFound);
    await ok('session.close', { sessionId: other, delete: true });
    await fails('session.close', { sessionId: other }, ErrorCode.SessionNotFound);
    await ok('session.close', { sessionId });

    const check = await openRpcChecker((await c.call('rpc.discover', {})).result);
    const exchanges: Exchange[] = c.exchanges;
    const succeeded = new Set(exchanges.filter((x) => 'result' in x.response).map((x) => x.request.method));
    expect([...succeeded].sort(), 'a successful call of every method').to.deep.equal([...METHOD_NAMES].sort());
    const problems: string[] = [];
    let errors = 0;
    for (const { request, response } of exchanges) {
      const tag = `${request.method} #${request.id}`;
      for (const p of check.params(request.method, request.params)) problems.push(`${tag} params: ${p}`);
      if (response.error) {
        errors++;
        if (!check.errorCodes(request.method).includes(response.error.code))
          problems.push(`${tag}: error ${response.error.code} (${response.error.message}) is not declared`);
      } else {
        for (const p of check.result(request.method, response.result)) problems.push(`${tag} result: ${p}`);
      }
    }
    const kinds = new Set<string>();
    for (const n of c.notifications) {
      kinds.add(n.method === '$/event' ? `event:${(n.params as { type: string }).type}` : n.method);
      for (const p of check.notification(n.method, n.params)) problems.push(`${n.method} ${JSON.stringify(n.params).slice(0, 80)}: ${p}`);
    }
    expect(problems).to.deep.equal([]);
    expect(errors).to.be.greaterThan(15);
    expect([...kinds]).to.include.members(['$/progress', 'event:job.finished', 'event:model.updated', 'event:labels.updated']);
  });

  it('the server and the official validator agree on bad params (-32602 from both)', async () => {
    const check = await openRpcChecker((await c.call('rpc.discover', {})).result);
    const cases: [string, unknown][] = [
      ['session.get', { params: { sessionId: 'abc' } }],
      ['session.get', {}],
      ['session.get', { sessionId: 5 }],
      ['session.create', { name: 'x', colour: 'red' }],
      ['labels.update', { sessionId: 'a', imageId: 'b', labels: { dtype: 'int64', shape: [1], data: '' }, encoding: 'signed' }],
      ['model.train', { sessionId: 'a', steps: 0 }],
      ['session.setView', { sessionId: 'a', imageId: 'b', region: [0, 0, 1] }],
    ];
    for (const [method, params] of cases) {
      const r = await c.call(method, params);
      expect(r.error?.code, `${method} ${JSON.stringify(params)}`).to.equal(ErrorCode.InvalidParams);
      expect(check.params(method, params), `${method} ${JSON.stringify(params)}`).to.not.deep.equal([]);
    }
  });
});
