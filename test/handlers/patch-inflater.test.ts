/**
 * The patch inflater (handlers/patch-inflater.ts): label patches inflate on a worker thread into shared scratch
 * memory with the same results and the same refusals as inflating on the event loop, every scratch buffer comes back,
 * the pool is bounded (an update that finds none free inflates on the event loop), and a dead worker fails only the
 * patches it held and is replaced.
 */
import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { decodeNdArrayAsync, encodeNdArray } from '../../protocol/src/ndarray.js';
import { PatchInflater, SCRATCH_BYTES } from '../../server/handlers/patch-inflater.js';

const patch = (n: number, seed = 1) => Uint16Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 5 === 0 ? (i % 300) + 1 : 0));

describe('patch inflater (labels.update off the event loop isolate)', () => {
  let inflater: PatchInflater;
  beforeEach(() => {
    inflater = new PatchInflater();
  });
  afterEach(async () => inflater.close());

  it('gives the values the event loop would, in shared memory, and takes its scratch back on release', async () => {
    const a = patch(512 * 512);
    const nd = encodeNdArray(a, [512, 512], { deflate: true });
    const here = await decodeNdArrayAsync(nd, { maxElements: 1 << 22 });
    const h = inflater.hook();
    const there = await decodeNdArrayAsync(nd, { maxElements: 1 << 22, inflate: h.inflate });
    expect(there.data.buffer).to.be.instanceOf(SharedArrayBuffer);
    expect(there.data.length).to.equal(a.length);
    expect(there.data.some((v) => v !== 0)).to.equal(true);
    expect(Buffer.from(there.data.buffer, there.data.byteOffset, there.data.byteLength).equals(Buffer.from(here.data.buffer))).to.equal(true);
    expect(inflater.inUse).to.equal(1);
    h.release();
    expect(inflater.inUse).to.equal(0);
  });

  it('refuses a stream that inflates to more or fewer bytes than the shape needs, or is not deflate data, naming /labels/data', async () => {
    const n = 64 * 64;
    const cases: Array<[string, string, RegExp]> = [
      ['longer', deflateSync(Buffer.from(patch(n + 1).buffer)).toString('base64'), /inflate/],
      ['shorter', deflateSync(Buffer.from(patch(n - 1).buffer)).toString('base64'), /inflated data has 8190 bytes/],
      ['garbage', Buffer.from('not deflate data at all').toString('base64'), /inflate/],
    ];
    for (const [what, data, re] of cases) {
      const h = inflater.hook();
      let err: (Error & { path?: string }) | undefined;
      try {
        await decodeNdArrayAsync({ dtype: 'uint16', shape: [n], data, encoding: 'deflate' }, { maxElements: 1 << 20, path: '/labels', inflate: h.inflate });
      } catch (e) {
        err = e as Error & { path?: string };
      }
      h.release();
      expect(err?.message, what).to.match(re);
      expect(err?.path, what).to.equal('/labels/data');
    }
    expect(inflater.inUse, 'every scratch buffer came back').to.equal(0);
  });

  it('is bounded: with every scratch buffer held, and for a patch larger than one, the event loop inflates instead', async () => {
    const small = encodeNdArray(patch(1024), [1024], { deflate: true });
    const held: Array<ReturnType<PatchInflater['hook']>> = [];
    for (;;) {
      const h = inflater.hook();
      const r = await decodeNdArrayAsync(small, { maxElements: 1 << 22, inflate: h.inflate });
      held.push(h);
      if (!(r.data.buffer instanceof SharedArrayBuffer)) break; // the pool ran out: decoded on the event loop
      expect(held.length, 'the pool is bounded').to.be.lessThan(100);
    }
    expect(inflater.inUse).to.equal(held.length - 1);
    for (const h of held) h.release();
    expect(inflater.inUse).to.equal(0);
    const big = encodeNdArray(patch(SCRATCH_BYTES / 2 + 2), [SCRATCH_BYTES / 2 + 2], { deflate: true });
    const h = inflater.hook();
    const r = await decodeNdArrayAsync(big, { maxElements: 1 << 22, inflate: h.inflate });
    h.release();
    expect(r.data.buffer).to.not.be.instanceOf(SharedArrayBuffer);
    expect(r.data.length).to.equal(SCRATCH_BYTES / 2 + 2);
  });

  it('a worker that dies fails the patches it held (their scratch comes back) and the next patch starts a new one', async () => {
    const nd = encodeNdArray(patch(4096), [4096], { deflate: true });
    const h0 = inflater.hook();
    await decodeNdArrayAsync(nd, { maxElements: 1 << 20, inflate: h0.inflate });
    h0.release();
    const worker = (inflater as unknown as { worker: { terminate(): Promise<number> } }).worker;
    const h1 = inflater.hook();
    const pending = decodeNdArrayAsync(nd, { maxElements: 1 << 20, inflate: h1.inflate });
    await worker.terminate();
    let err: Error | undefined;
    try {
      await pending;
    } catch (e) {
      err = e as Error;
    }
    h1.release();
    // The patch either finished before the worker went, or failed with the reason; nothing hangs.
    if (err) expect(err.message).to.match(/inflate/);
    expect(inflater.inUse).to.equal(0);
    const h2 = inflater.hook();
    const again = await decodeNdArrayAsync(nd, { maxElements: 1 << 20, inflate: h2.inflate });
    expect(again.data.buffer).to.be.instanceOf(SharedArrayBuffer);
    h2.release();
  });
});
