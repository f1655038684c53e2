/** Daemon foundation over a real WebSocket server on port 0: sessions, images, labels, errors, limits, auth. */
import { expect } from 'chai';
import WebSocket from 'ws';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { nd, filled } from '../helpers/arrays.js';
import { SparsecellClient } from '../../clients/typescript/src/client.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import { resolveConfig } from '../../server/config.js';
import { METHOD_NAMES } from '../../protocol/src/methods.js';
import { rpcError } from '../helpers/rpc.js';

describe('e2e: daemon foundation', () => {
  let d: TestDaemon;
  let c: SparsecellClient;
  before(async () => {
    d = await startTestDaemon({ maxArrayElements: 1_000_000 });
    c = await d.connect();
  });
  after(async () => {
    await c.close();
    await d.stop();
  });

  it('server.info reports version, backend, limits and families', async () => {
    const info = await c.call('server.info', {});
    expect(info.name).to.equal('sparsecell');
    expect(info.limits.maxArrayElements).to.equal(1_000_000);
    expect(info.families).to.include.members(['stardist', 'cellpose', 'elephant']);
    expect(info.backend.name).to.be.a('string');
    expect(info.version)
      .to.match(/^\d+\.\d+\.\d+$/)
      .and.not.equal('0.0.0');
  });

  it('rpc.discover serves the OpenRPC document with every method', async () => {
    const doc = (await c.call('rpc.discover', {})) as { methods: { name: string }[] };
    expect(doc.methods.map((m) => m.name).sort()).to.deep.equal([...METHOD_NAMES].sort());
  });

  it('create -> add image -> full labels (offset1) -> patch (signed) -> get -> close -> reopen -> delete', async () => {
    const { sessionId, family } = await c.call('session.create', { name: 'demo' });
    expect(family).to.equal('stardist');
    const H = 40,
      W = 50;
    const img = new Uint16Array(H * W).map((_, i) => i % 1000);
    const added = await c.call('image.add', { sessionId, image: nd(img, [H, W]) });
    expect(added).to.deep.equal({ imageId: 'img1', shape: [H, W], axes: 'YX' });

    // Full layer in offset1 form: 0 unlabeled, 1 background, 2 = object 1, 3 = object 2.
    const full = filled(H, W, 0);
    for (let y = 0; y < 10; y++) for (let x = 0; x < W; x++) full[y * W + x] = 1;
    for (let y = 20; y < 25; y++) for (let x = 5; x < 10; x++) full[y * W + x] = 2;
    for (let y = 30; y < 33; y++) for (let x = 30; x < 34; x++) full[y * W + x] = 3;
    const u1 = await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(full, [H, W], true), encoding: 'offset1' });
    expect(u1.generation).to.equal(1);
    expect(u1.counts).to.deep.equal({ unlabeled: H * W - 10 * W - 25 - 12, background: 10 * W, objects: 2 });

    // Patch in signed form over object 2: turn it into background and add object 7.
    const patch = new Int32Array(3 * 4).fill(0);
    patch[5] = 7;
    const u2 = await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(patch, [3, 4]), encoding: 'signed', origin: [30, 30] });
    expect(u2.generation).to.equal(2);
    expect(u2.counts.objects).to.equal(2); // object 1 and 7
    expect(u2.counts.background).to.equal(10 * W + 11);

    const got = await c.call('labels.get', { sessionId, imageId: 'img1' });
    expect(got.generation).to.equal(2);
    const signed = decodeNdArray(got.labels, { maxElements: 1e7 }).data as Int32Array;
    expect(signed[0]).to.equal(0);
    expect(signed[15 * W]).to.equal(-1);
    expect(signed[22 * W + 6]).to.equal(1);
    expect(signed[31 * W + 31]).to.equal(7);
    expect(signed[30 * W + 30]).to.equal(0);
    const off = await c.call('labels.get', { sessionId, imageId: 'img1', encoding: 'offset1' });
    const o1 = decodeNdArray(off.labels, { maxElements: 1e7 }).data;
    expect(off.labels.dtype).to.equal('uint16');
    expect(o1[31 * W + 31]).to.equal(8);
    expect(o1[15 * W]).to.equal(0);

    const info = await c.call('session.get', { sessionId });
    expect(info.generation).to.equal(2);
    expect(info.images[0].counts).to.deep.equal(u2.counts);
    const list = await c.call('session.list', {});
    expect(list.sessions.map((s) => s.sessionId)).to.include(sessionId);

    expect(await c.call('session.close', { sessionId })).to.deep.equal({ closed: true, deleted: false });
    // Reopen from another connection by id: labels are back from disk.
    const c2 = await d.connect();
    const again = await c2.call('session.get', { sessionId });
    expect(again.generation).to.equal(2);
    expect(again.images[0].counts).to.deep.equal(u2.counts);
    await c2.call('session.close', { sessionId, delete: true });
    const e = await rpcError(c2.call('session.get', { sessionId }));
    expect(e.code).to.equal(ErrorCode.SessionNotFound);
    await c2.close();
  });

  it('3-D stacks take [z, y, x] patches; YXC images take 2-D labels', async () => {
    const { sessionId } = await c.call('session.create', {});
    const z = await c.call('image.add', { sessionId, image: nd(new Uint8Array(3 * 8 * 9), [3, 8, 9]), axes: 'ZYX' });
    const r = await c.call('labels.update', {
      sessionId,
      imageId: z.imageId,
      labels: nd(new Int32Array(2 * 2).fill(4), [1, 2, 2]),
      encoding: 'signed',
      origin: [2, 6, 7],
    });
    expect(r.counts).to.deep.equal({ unlabeled: 3 * 8 * 9 - 4, background: 0, objects: 1 });
    const rgb = await c.call('image.add', { sessionId, image: nd(new Uint8Array(8 * 9 * 3), [8, 9, 3]) });
    expect(rgb.axes).to.equal('YXC');
    const e = await rpcError(
      c.call('labels.update', { sessionId, imageId: rgb.imageId, labels: nd(new Int32Array(8 * 9 * 3), [8, 9, 3]), encoding: 'signed' }),
    );
    expect(e.code).to.equal(ErrorCode.ShapeMismatch);
  });

  it('image.add takes a base64 TIFF (2-D and a stack) and rejects a corrupt one with -32810', async () => {
    const { encodeTiff } = await import('../../server/imaging/tiff.js');
    const { sessionId } = await c.call('session.create', {});
    const px = Uint16Array.from({ length: 6 * 5 }, (_, i) => i * 100);
    const tif = Buffer.from(encodeTiff({ dtype: 'uint16', height: 6, width: 5, data: px }, { compression: 'deflate' })).toString('base64');
    expect(await c.call('image.add', { sessionId, image: { tiff: tif } })).to.deep.equal({ imageId: 'img1', shape: [6, 5], axes: 'YX' });
    const stack = Buffer.from(encodeTiff({ dtype: 'uint8', pages: 3, height: 4, width: 4, data: new Uint8Array(48) })).toString('base64');
    expect((await c.call('image.add', { sessionId, image: { tiff: stack }, axes: 'ZYX' })).shape).to.deep.equal([3, 4, 4]);
    const e = await rpcError(c.call('image.add', { sessionId, image: { tiff: Buffer.from('II*\0garbage!').toString('base64') } }));
    expect(e.code).to.equal(ErrorCode.InvalidImage);
    expect((e.data as { path: string }[])[0].path).to.equal('/image/tiff');
  });

  describe('error paths', () => {
    let sessionId: string;
    before(async () => {
      ({ sessionId } = await c.call('session.create', {}));
      await c.call('image.add', { sessionId, image: nd(new Uint8Array(16 * 16), [16, 16]) });
    });

    it('unknown method -> -32601', async () => {
      const e = await rpcError(c.call('no.such' as never, {} as never));
      expect(e.code).to.equal(ErrorCode.MethodNotFound);
    });
    it('invalid params -> -32602 with data [{path, message}] naming the field', async () => {
      const e = await rpcError(c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Int32Array(4), [2, 2]), encoding: 'weird' } as never));
      expect(e.code).to.equal(ErrorCode.InvalidParams);
      expect((e.data as { path: string }[]).some((i) => i.path === '/encoding')).to.equal(true);
      const e2 = await rpcError(c.call('session.create', { family: 'unet' } as never));
      expect((e2.data as { path: string }[])[0].path).to.equal('/family');
      const e3 = await rpcError(c.call('session.get', { sessionId, extra: 1 } as never));
      expect(e3.code).to.equal(ErrorCode.InvalidParams);
    });
    it('params that are not one object -> -32602', async () => {
      const e = await rpcError(c.callWithId(99, 'server.info', [1, 2] as never));
      expect(e.code).to.equal(ErrorCode.InvalidParams);
    });
    it('unknown session / image -> -32801 / -32802', async () => {
      expect((await rpcError(c.call('session.get', { sessionId: 'nope' }))).code).to.equal(ErrorCode.SessionNotFound);
      expect((await rpcError(c.call('labels.get', { sessionId, imageId: 'img9' }))).code).to.equal(ErrorCode.ImageNotFound);
    });
    it('ids are ids, never paths', async () => {
      const e = await rpcError(c.call('session.get', { sessionId: '../../etc' }));
      expect(e.code).to.equal(ErrorCode.InvalidParams);
    });
    it('shape mismatches -> -32803 naming the field', async () => {
      const full = await rpcError(c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Int32Array(15 * 16), [15, 16]), encoding: 'signed' }));
      expect(full.code).to.equal(ErrorCode.ShapeMismatch);
      expect((full.data as { path: string }[])[0].path).to.equal('/labels/shape');
      const out = await rpcError(
        c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Int32Array(4), [2, 2]), encoding: 'signed', origin: [15, 0] }),
      );
      expect((out.data as { path: string }[])[0].path).to.equal('/origin/0');
      const badLen = await rpcError(
        c.call('labels.update', { sessionId, imageId: 'img1', labels: { dtype: 'int32', shape: [16, 16], data: 'AAAA' }, encoding: 'signed' }),
      );
      expect(badLen.code).to.equal(ErrorCode.ShapeMismatch);
      expect((badLen.data as { path: string }[])[0].path).to.equal('/labels/data');
    });
    it('invalid label values and dtypes -> -32804', async () => {
      const neg = new Int32Array(16 * 16).fill(0);
      neg[3] = -2;
      const e = await rpcError(c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(neg, [16, 16]), encoding: 'signed' }));
      expect(e.code).to.equal(ErrorCode.InvalidLabels);
      const f = await rpcError(c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Float32Array(256), [16, 16]), encoding: 'signed' }));
      expect(f.code).to.equal(ErrorCode.InvalidLabels);
      const o = await rpcError(
        c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Int16Array(256).fill(-1), [16, 16]), encoding: 'offset1' }),
      );
      expect(o.code).to.equal(ErrorCode.InvalidLabels);
      // A rejected update changes nothing.
      expect((await c.call('labels.get', { sessionId, imageId: 'img1' })).generation).to.equal(0);
    });
    it('arrays above maxArrayElements -> -32805 before decoding', async () => {
      const e = await rpcError(c.call('image.add', { sessionId, image: { dtype: 'uint8', shape: [100000, 100000], data: '' } }));
      expect(e.code).to.equal(ErrorCode.ResourceLimit);
      expect((e.data as { path: string }[])[0].path).to.equal('/image/shape');
    });
    it('NaN in float images -> clear error', async () => {
      const f = new Float32Array(16).fill(1);
      f[5] = NaN;
      const e = await rpcError(c.call('image.add', { sessionId, image: nd(f, [4, 4]) }));
      expect(e.code).to.equal(ErrorCode.ShapeMismatch);
      expect(e.message).to.match(/NaN/);
    });
    it('bad base64 in model.import -> -32602', async () => {
      const e = await rpcError(c.call('model.import', { sessionId, model: '!!notbase64' }));
      expect(e.code).to.equal(ErrorCode.InvalidParams);
    });
  });

  it('1,000 malformed frames leave the daemon serving', async () => {
    const ws = new WebSocket(d.url);
    await new Promise((r) => ws.once('open', r));
    const replies: any[] = [];
    ws.on('message', (m) => replies.push(JSON.parse(m.toString())));
    const { sessionId } = await c.call('session.create', {});
    await c.call('image.add', { sessionId, image: nd(new Uint8Array(8 * 8), [8, 8]) });
    const bad: string[] = [];
    for (let i = 0; i < 1000; i++) {
      switch (i % 10) {
        case 0:
          bad.push('{not json' + i);
          break;
        case 1:
          bad.push(
            JSON.stringify({
              jsonrpc: '2.0',
              id: i,
              method: 'labels.update',
              params: { sessionId, imageId: 'img1', labels: { dtype: 'int32', shape: [8, 8], data: 12 }, encoding: 'signed' },
            }),
          );
          break;
        case 2:
          bad.push(
            JSON.stringify({ jsonrpc: '2.0', id: i, method: 'image.add', params: { sessionId, image: { dtype: 'uint8', shape: [1e9, 1e9, 1e9], data: '' } } }),
          );
          break;
        case 3:
          bad.push(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'image.add', params: { sessionId, image: { dtype: 'uint8', shape: [-4, 8], data: '' } } }));
          break;
        case 4:
          bad.push(
            JSON.stringify({
              jsonrpc: '2.0',
              id: i,
              method: 'labels.update',
              params: { sessionId, imageId: 'img1', labels: { dtype: 'int32', shape: [8, 8], data: 'AAAA' }, encoding: 'signed' },
            }),
          );
          break;
        case 5:
          bad.push(
            JSON.stringify({
              jsonrpc: '2.0',
              id: i,
              method: 'image.add',
              params: { sessionId, image: { dtype: 'float32', shape: [1], data: Buffer.from(new Float32Array([NaN]).buffer).toString('base64') } },
            }),
          );
          break;
        case 6:
          bad.push(JSON.stringify({ jsonrpc: '1.0', id: i, method: 'server.info' }));
          break;
        case 7:
          bad.push(JSON.stringify([]));
          break;
        case 8:
          bad.push(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'labels.update', params: null }));
          break;
        case 9:
          bad.push(JSON.stringify({ jsonrpc: '2.0', id: { x: 1 }, method: 42, params: 'x' }));
          break;
      }
    }
    for (const b of bad) ws.send(b);
    const deadline = Date.now() + 20000;
    while (replies.length < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(replies.length).to.equal(1000);
    expect(replies.every((r) => r.error && typeof r.error.code === 'number' && typeof r.error.message === 'string')).to.equal(true);
    ws.close();
    // Still serving, and nothing was written.
    expect((await c.call('server.info', {})).name).to.equal('sparsecell');
    expect((await c.call('labels.get', { sessionId, imageId: 'img1' })).generation).to.equal(0);
  });
});

describe('e2e: limits and authentication', () => {
  it('an oversized message closes that connection with 1009; the daemon keeps serving', async () => {
    const d = await startTestDaemon({ maxMessageBytes: 4096 });
    try {
      const big = await d.connect();
      const closed = new Promise<{ code: number }>((r) => big.onClose(r));
      big.sendRaw(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server.info', params: { pad: 'x'.repeat(10000) } }));
      expect((await closed).code).to.equal(1009);
      const ok = await d.connect();
      expect((await ok.call('server.info', {})).limits.maxMessageBytes).to.equal(4096);
      await ok.close();
    } finally {
      await d.stop();
    }
  });

  it('binding off loopback needs a token', () => {
    expect(() => resolveConfig({ host: '0.0.0.0' })).to.throw(/token/);
    expect(resolveConfig({ host: '0.0.0.0', token: 'secret-token-1' }).host).to.equal('0.0.0.0');
  });

  it('with a token set, every connection must present it (header or query)', async () => {
    const d = await startTestDaemon({ token: 'correct-horse' });
    try {
      let refused: unknown;
      try {
        await SparsecellClient.connect(d.url);
      } catch (e) {
        refused = e;
      }
      expect(String(refused)).to.match(/401/);
      let wrong: unknown;
      try {
        await SparsecellClient.connect(d.url, { token: 'wrong-horse!' });
      } catch (e) {
        wrong = e;
      }
      expect(String(wrong)).to.match(/401/);
      const h = await SparsecellClient.connect(d.url, { token: 'correct-horse' });
      expect((await h.call('server.info', {})).name).to.equal('sparsecell');
      await h.close();
      const q = await SparsecellClient.connect(d.url, { token: 'correct-horse', tokenInQuery: true });
      expect((await q.call('server.info', {})).name).to.equal('sparsecell');
      await q.close();
    } finally {
      await d.stop();
    }
  });

  it('sends $/heartbeat notifications', async () => {
    const d = await startTestDaemon({ heartbeatS: 0.1 });
    try {
      const c = await d.connect();
      await new Promise((r) => setTimeout(r, 350));
      expect(c.lastHeartbeat).to.be.a('string');
      await c.close();
    } finally {
      await d.stop();
    }
  });
});
