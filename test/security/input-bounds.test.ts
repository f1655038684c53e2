/**
 * Issue 16, findings 1, 2 and 6 over a real WebSocket server: hostile TIFFs are refused in bounded time and off the
 * event loop, batches and images per session are limited, and image.add does not rewrite session.json.
 */
import { expect } from 'chai';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { nd } from '../helpers/arrays.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import { encodeTiff } from '../../server/imaging/tiff.js';
import { deflateBombTiff, hugeDeclaredTiff, loopingIfdTiff, lzwGarbageTiff, packBitsGarbageTiff } from '../../scripts/attack-fixtures.js';
import { rawCall, rpcError } from '../helpers/rpc.js';

const b64 = (u8: Uint8Array) => Buffer.from(u8).toString('base64');

describe('security: hostile TIFFs, batches and image counts', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({ maxImagesPerSession: 3, maxBatch: 50 });
  });
  after(async () => d.stop());

  it('garbage LZW and PackBits strips, a Deflate bomb and a looping IFD answer InvalidImage', async () => {
    const c = await d.connect();
    const { sessionId } = await c.call('session.create', {});
    for (const [what, tiff] of [
      ['lzw', lzwGarbageTiff()],
      ['packbits', packBitsGarbageTiff()],
      ['bomb', deflateBombTiff(64)],
      ['loop', loopingIfdTiff()],
    ] as const) {
      const e = await rpcError(c.call('image.add', { sessionId, image: { tiff: b64(tiff) } }));
      expect(e.code, `${what}: ${e.message}`).to.equal(ErrorCode.InvalidImage);
      expect((e.data as Array<{ path: string }>)[0].path).to.equal('/image/tiff');
    }
    expect((await c.call('session.get', { sessionId })).images).to.have.length(0);
    await c.close();
  });

  it('a TIFF declaring 32768x32768 with 16 bytes of data is refused (ResourceLimit) at once', async () => {
    const c = await d.connect();
    const { sessionId } = await c.call('session.create', {});
    const t0 = Date.now();
    const e = await rpcError(c.call('image.add', { sessionId, image: { tiff: b64(hugeDeclaredTiff()) } }));
    expect(e.code).to.equal(ErrorCode.ResourceLimit);
    expect(Date.now() - t0).to.be.lessThan(3000);
    await c.close();
  });

  it('while hostile TIFFs are decoded, another connection is answered at once', async () => {
    const attacker = await d.connect();
    const other = await d.connect();
    const { sessionId } = await attacker.call('session.create', {});
    const hostile = [lzwGarbageTiff(), deflateBombTiff(64), lzwGarbageTiff(), hugeDeclaredTiff()].map((t) =>
      attacker.call('image.add', { sessionId, image: { tiff: b64(t) } }).then(
        () => 'accepted',
        (e: Error) => e.message,
      ),
    );
    const t0 = Date.now();
    const info = await other.call('server.info', {});
    expect(info.name).to.equal('sparsecell');
    expect(Date.now() - t0).to.be.lessThan(1000);
    const outcomes = await Promise.all(hostile);
    expect(
      outcomes.every((o) => o !== 'accepted'),
      outcomes.join('; '),
    ).to.equal(true);
    await attacker.close();
    await other.close();
  });

  it('a decode that outlives its deadline is stopped with ResourceLimit', async () => {
    const slow = await startTestDaemon({ decodeTimeoutS: 0.001 });
    try {
      const c = await slow.connect();
      const { sessionId } = await c.call('session.create', {});
      const tiff = encodeTiff({ dtype: 'uint16', height: 512, width: 512, data: new Uint16Array(512 * 512) }, { compression: 'deflate' });
      const e = await rpcError(c.call('image.add', { sessionId, image: { tiff: b64(tiff) } }));
      expect(e.code).to.equal(ErrorCode.ResourceLimit);
      expect(e.message).to.match(/longer than 0.001 s/);
      await c.close();
    } finally {
      await slow.stop();
    }
  });

  it('a valid TIFF still decodes through the worker', async () => {
    const c = await d.connect();
    const { sessionId } = await c.call('session.create', {});
    const data = Uint16Array.from({ length: 6 * 5 }, (_, i) => i * 1000);
    const r = await c.call('image.add', {
      sessionId,
      image: { tiff: b64(encodeTiff({ dtype: 'uint16', height: 6, width: 5, data }, { compression: 'deflate' })) },
    });
    expect(r.shape).to.deep.equal([6, 5]);
    await c.close();
  });

  it('a batch longer than maxBatch (10,000 image.add) is refused as a whole, and nothing runs', async () => {
    const c = await d.connect();
    const { sessionId } = await c.call('session.create', {});
    const img = nd(new Uint8Array(4), [2, 2]);
    const batch = Array.from({ length: 10000 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'image.add', params: { sessionId, image: img } }));
    const t0 = Date.now();
    const res = (await rawCall(d.url, JSON.stringify(batch))) as { error?: { code: number; message: string }; id: null };
    expect(Array.isArray(res)).to.equal(false);
    expect(res.error?.code).to.equal(ErrorCode.ResourceLimit);
    expect(res.error?.message).to.match(/batch of 10000 requests; at most 50/);
    expect(Date.now() - t0).to.be.lessThan(5000);
    expect((await c.call('session.get', { sessionId })).images).to.have.length(0);
    const limits = (await c.call('server.info', {})).limits;
    expect(limits).to.include({ maxBatch: 50, maxImagesPerSession: 3 });
    expect(limits.maxObjects).to.be.a('number');
    await c.close();
  });

  it('images per session are limited, and image.add leaves session.json alone (O(1) metadata per image)', async () => {
    const c = await d.connect();
    const { sessionId } = await c.call('session.create', { name: 'limits' });
    const metaPath = join(d.home, 'sessions', sessionId, 'session.json');
    const before = readFileSync(metaPath, 'utf8');
    const ino = statSync(metaPath).ino;
    for (let i = 0; i < 3; i++) await c.call('image.add', { sessionId, image: nd(new Uint8Array(16).fill(i), [4, 4]), name: `n${i}` });
    expect(readFileSync(metaPath, 'utf8')).to.equal(before);
    expect(statSync(metaPath).ino).to.equal(ino); // not even rewritten atomically
    const e = await rpcError(c.call('image.add', { sessionId, image: nd(new Uint8Array(16), [4, 4]) }));
    expect(e.code).to.equal(ErrorCode.ResourceLimit);
    expect(e.message).to.match(/maxImagesPerSession = 3/);
    await c.close();
    // The images come back from their own metadata files after a restart.
    const d2 = await startTestDaemon({ home: d.home });
    try {
      const c2 = await d2.connect();
      const info = await c2.call('session.get', { sessionId });
      expect(info.images.map((im) => [im.imageId, im.name])).to.deep.equal([
        ['img1', 'n0'],
        ['img2', 'n1'],
        ['img3', 'n2'],
      ]);
      await c2.close();
    } finally {
      await d2.stop();
    }
  });
});
