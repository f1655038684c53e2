/** Acknowledged labels survive a real kill -9 of a spawned daemon; torn journal tails are dropped. */
import { expect } from 'chai';
import { spawnDaemon, tempHome, cleanup, waitExit } from '../helpers/daemon.js';
import { nd } from '../helpers/arrays.js';
import { SparsecellClient } from '../../clients/typescript/src/client.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';

describe('e2e: persistence across kill -9', () => {
  it('every acknowledged session, image and label generation is back after kill -9 and restart', async () => {
    const home = tempHome();
    try {
      const d1 = await spawnDaemon(['--home', home]);
      const c = await SparsecellClient.connect(d1.url);
      const { sessionId } = await c.call('session.create', { name: 'durable' });
      const H = 64,
        W = 64;
      await c.call('image.add', { sessionId, image: nd(new Uint8Array(H * W).fill(7), [H, W]) });
      // Fire 60 patch updates without waiting; each writes object id i+1 into its own 4x4 cell.
      const acked: number[] = [];
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 60; i++) {
        const y = Math.floor(i / 16) * 4,
          x = (i % 16) * 4;
        const p = c
          .call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Int32Array(16).fill(i + 1), [4, 4]), encoding: 'signed', origin: [y, x] })
          .then(
            (r) => acked.push(i),
            () => undefined,
          );
        pending.push(p);
      }
      // Kill as soon as some (not necessarily all) updates are acknowledged.
      while (acked.length < 20) await new Promise((r) => setTimeout(r, 1));
      d1.proc.kill('SIGKILL');
      await waitExit(d1.proc);
      await Promise.allSettled(pending);
      const ackedNow = [...acked];
      expect(ackedNow.length).to.be.greaterThanOrEqual(20);

      const d2 = await spawnDaemon(['--home', home]);
      const c2 = await SparsecellClient.connect(d2.url);
      const info = await c2.call('session.get', { sessionId });
      expect(info.name).to.equal('durable');
      expect(info.images.map((i) => i.imageId)).to.deep.equal(['img1']);
      expect(info.generation).to.be.greaterThanOrEqual(ackedNow.length);
      const got = await c2.call('labels.get', { sessionId, imageId: 'img1' });
      const lab = decodeNdArray(got.labels, { maxElements: 1e6 }).data as Int32Array;
      for (const i of ackedNow) {
        const y = Math.floor(i / 16) * 4,
          x = (i % 16) * 4;
        expect(lab[(y + 1) * W + x + 2], `acknowledged update ${i}`).to.equal(i + 1);
      }
      // Updates keep numbering after the recovered generation.
      const next = await c2.call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Int32Array(1), [1, 1]), encoding: 'signed', origin: [63, 63] });
      expect(next.generation).to.equal(info.generation + 1);
      await c2.close();
      d2.proc.kill('SIGTERM');
      expect(await waitExit(d2.proc)).to.equal(0);
    } finally {
      cleanup(home);
    }
  });
});
