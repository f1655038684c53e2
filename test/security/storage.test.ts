/**
 * Issue 16, findings 3, 5, 7 and 8 (checkpoint): damaged files cost only what they hold, and a training job killed
 * with the daemon is reported as interrupted and can be resumed from its last checkpoint.
 */
import { expect } from 'chai';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDaemon, spawnDaemon, tempHome, cleanup, waitExit } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { SparsecellClient } from '../../clients/typescript/src/client.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import type { EventParams, ProgressParams } from '../../protocol/src/progress.js';
import { rpcError } from '../helpers/rpc.js';

const TINY = { unetDepth: 2, unetFilters: 8 };
const OPTS = { patchSize: 32, batchSize: 2 };
const MAGIC = Buffer.from([0x32, 0x4a, 0x43, 0x53]); // "SCJ2" little-endian

/** Byte offsets of the journal frames of a segment. */
function frames(b: Buffer): number[] {
  const out: number[] = [];
  for (let p = b.indexOf(MAGIC); p >= 0; p = b.indexOf(MAGIC, p + 1)) out.push(p);
  return out;
}

async function labels(c: SparsecellClient, sessionId: string): Promise<Int32Array> {
  const got = await c.call('labels.get', { sessionId, imageId: 'img1' });
  return decodeNdArray(got.labels, { maxElements: 1e6 }).data as Int32Array;
}

const until = async (cond: () => boolean, ms = 60000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('security: damaged store files and interrupted jobs', () => {
  it('a flipped bit in one label journal record costs that record only, with a warning; a torn tail is silent', async () => {
    const home = tempHome();
    try {
      const d1 = await startTestDaemon({ home });
      const c = await d1.connect();
      const { sessionId } = await c.call('session.create', {});
      const torn = await c.call('session.create', {});
      for (const sid of [sessionId, torn.sessionId]) await c.call('image.add', { sessionId: sid, image: nd(new Uint8Array(16 * 16), [16, 16]) });
      for (let i = 0; i < 16; i++) {
        await c.call('labels.update', {
          sessionId,
          imageId: 'img1',
          labels: nd(new Int32Array(4).fill(i + 1), [2, 2]),
          encoding: 'signed',
          origin: [2 * Math.floor(i / 4), 2 * (i % 4)],
        });
      }
      for (let i = 0; i < 3; i++)
        await c.call('labels.update', {
          sessionId: torn.sessionId,
          imageId: 'img1',
          labels: nd(new Int32Array(1).fill(i + 1), [1, 1]),
          encoding: 'signed',
          origin: [0, i],
        });
      await c.close();
      await d1.stop();

      const jnl = join(home, 'sessions', sessionId, 'labels', 'img1.1.jnl');
      const b = readFileSync(jnl);
      const at = frames(b);
      expect(at).to.have.length(16);
      b[at[4] + 12] ^= 0x04; // one bit of the 5th record's header
      writeFileSync(jnl, b);
      // a crash mid-append: the first bytes of a frame and nothing more
      appendFileSync(join(home, 'sessions', torn.sessionId, 'labels', 'img1.1.jnl'), Buffer.concat([MAGIC, Buffer.from([200, 0, 0, 0, 0x7b])]));

      const d2 = await startTestDaemon({ home });
      const logged: Array<{ sessionId: string; imageId?: string; message: string }> = [];
      d2.daemon.sessions.on('warning', (w) => logged.push(w));
      const c2 = await d2.connect();
      const info = await c2.call('session.get', { sessionId });
      expect(info.generation).to.equal(16);
      expect(info.warnings).to.have.length(1);
      expect(info.warnings![0].imageId).to.equal('img1');
      expect(info.warnings![0].message).to.match(/damaged record at byte \d+ .*later updates are kept/);
      expect(logged).to.have.length(1);
      expect(logged[0]).to.include({ sessionId, imageId: 'img1' });
      const lab = await labels(c2, sessionId);
      for (let i = 0; i < 16; i++) {
        const v = lab[2 * Math.floor(i / 4) * 16 + 2 * (i % 4)];
        expect(v, `update ${i + 1}`).to.equal(i === 4 ? -1 : i + 1);
      }
      const t = await c2.call('session.get', { sessionId: torn.sessionId });
      expect(t.generation).to.equal(3);
      expect(t).to.not.have.property('warnings');
      await c2.close();
      await d2.stop();
    } finally {
      cleanup(home);
    }
  });

  it('one corrupt session.json does not break session.list; that session answers StorageCorrupt, the others work', async () => {
    const home = tempHome();
    try {
      const d1 = await startTestDaemon({ home });
      const c = await d1.connect();
      const good = await c.call('session.create', { name: 'good' });
      const bad = await c.call('session.create', { name: 'bad' });
      await c.close();
      await d1.stop();
      writeFileSync(join(home, 'sessions', bad.sessionId, 'session.json'), '{"sessionId": "' + bad.sessionId + '", "na');

      const d2 = await startTestDaemon({ home });
      const c2 = await d2.connect();
      const list = await c2.call('session.list', {});
      expect(list.sessions.map((s) => s.name)).to.deep.equal(['good']);
      expect(list.damaged?.map((s) => s.sessionId)).to.deep.equal([bad.sessionId]);
      expect(list.damaged![0].error).to.match(/damaged on disk/);
      const e = await rpcError(c2.call('session.get', { sessionId: bad.sessionId }));
      expect(e.code).to.equal(ErrorCode.StorageCorrupt);
      await c2.call('image.add', { sessionId: good.sessionId, image: nd(new Uint8Array(4), [2, 2]) });
      expect((await c2.call('session.get', { sessionId: good.sessionId })).images).to.have.length(1);
      await c2.close();
      await d2.stop();
    } finally {
      cleanup(home);
    }
  });

  it('a truncated checkpoint gives StorageCorrupt (not -32603); model.train {reset: true} recovers', async () => {
    const home = tempHome();
    try {
      const blobs = makeBlobs({ height: 64, width: 64, count: 6, seed: 5 });
      const d1 = await startTestDaemon({ home });
      const c = await d1.connect();
      const { sessionId } = await c.call('session.create', { config: TINY });
      await c.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [64, 64]) });
      await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
      const ends: ProgressParams[] = [];
      c.onProgress((p) => p.kind === 'end' && ends.push(p));
      await c.call('model.train', { sessionId, steps: 2, options: OPTS });
      await until(() => ends.length > 0);
      await c.close();
      await d1.stop();
      const ckpt = join(home, 'sessions', sessionId, 'model', 'checkpoint.bin');
      truncateSync(ckpt, Math.floor(readFileSync(ckpt).length / 2));

      const d2 = await startTestDaemon({ home });
      const c2 = await d2.connect();
      for (const call of [c2.call('model.predict', { sessionId, imageId: 'img1' }), c2.call('model.export', { sessionId })]) {
        const e = await rpcError(call);
        expect(e.code, e.message).to.equal(ErrorCode.StorageCorrupt);
        expect(e.message).to.match(/checkpoint .* is damaged .*reset: true/);
      }
      const ends2: ProgressParams[] = [];
      c2.onProgress((p) => p.kind === 'end' && ends2.push(p));
      await c2.call('model.train', { sessionId, steps: 2, options: OPTS, reset: true });
      await until(() => ends2.length > 0);
      expect(ends2[0].state).to.equal('done');
      expect((await c2.call('model.predict', { sessionId, imageId: 'img1' })).modelVersion).to.be.greaterThan(0);
      await c2.close();
      await d2.stop();
    } finally {
      cleanup(home);
    }
  });

  it('kill -9 during training: the restarted daemon reports the job interrupted and resumes it from the checkpoint', async () => {
    const home = tempHome();
    try {
      const blobs = makeBlobs({ height: 64, width: 64, count: 8, seed: 3 });
      const d1 = await spawnDaemon(['--home', home, '--checkpoint-s', '0.2']);
      const c = await SparsecellClient.connect(d1.url);
      const { sessionId } = await c.call('session.create', { config: TINY });
      await c.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [64, 64]) });
      await c.call('labels.update', {
        sessionId,
        imageId: 'img1',
        labels: nd(sparsify(blobs.labels, (id) => id % 2 === 1).data, [64, 64]),
        encoding: 'signed',
      });
      const updates: EventParams[] = [];
      c.onEvent((e) => e.type === 'model.updated' && updates.push(e));
      const { jobId } = await c.call('model.train', { sessionId, steps: 100000, options: OPTS });
      await until(() => updates.length >= 2);
      d1.proc.kill('SIGKILL');
      await waitExit(d1.proc);
      await c.close().catch(() => undefined);

      const d2 = await spawnDaemon(['--home', home]);
      const c2 = await SparsecellClient.connect(d2.url);
      const events: EventParams[] = [];
      c2.onEvent((e) => events.push(e));
      const info = await c2.call('session.get', { sessionId });
      const job = info.jobs.find((j) => j.jobId === jobId);
      expect(job?.state).to.equal('interrupted');
      expect(job?.step).to.be.greaterThan(0);
      expect(info.modelVersion).to.be.greaterThan(0);
      await until(() => events.some((e) => e.type === 'job.finished'), 5000);
      expect(events.find((e) => e.type === 'job.finished')).to.deep.include({ jobId, state: 'interrupted' });

      const ends: ProgressParams[] = [];
      c2.onProgress((p) => p.kind === 'end' && ends.push(p));
      const resumed = await c2.call('model.train', { sessionId, resume: true, steps: 3 });
      expect(resumed.resumedFrom).to.equal(job!.step);
      await until(() => ends.some((p) => p.token === resumed.jobId));
      const end = ends.find((p) => p.token === resumed.jobId)!;
      expect(end.state).to.equal('done');
      expect(end.step).to.equal(job!.step! + 3);
      // Nothing is left to resume once the job has ended.
      expect((await rpcError(c2.call('model.train', { sessionId, resume: true }))).code).to.equal(ErrorCode.JobNotFound);
      await c2.close();
      d2.proc.kill('SIGTERM');
      expect(await waitExit(d2.proc)).to.equal(0);
    } finally {
      cleanup(home);
    }
  });
});
