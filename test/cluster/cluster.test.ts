/**
 * The cluster (issue 20) with real components: a redis-server on a free loopback port, a front daemon
 * (`sparsecell serve --redis`) and compute workers (`sparsecell worker`) as child processes sharing one store,
 * clients over real WebSockets. Tiny models and few steps keep it to about a minute and a half on 2 cores.
 */
import { expect } from 'chai';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { nd, toU8 } from '../helpers/arrays.js';
import { cleanup, tempHome } from '../helpers/daemon.js';
import { spawnFront, spawnWorker, startRedis, stopProc, type TestFront, type TestRedis, type TestWorker } from '../../scripts/cluster-procs.js';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { blobImage, expectObjects, sessionWithTrainedModel, TRAINED_CONFIG, trainedBlobsModel } from '../helpers/trained-model.js';
import { type RpcException, SparsecellClient } from '../../clients/typescript/src/client.js';
import { rpcError } from '../helpers/rpc.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import type { EventParams, ProgressParams } from '../../protocol/src/progress.js';

const TINY = { unetDepth: 2, unetFilters: 8 };
const OPTS = { patchSize: 32, batchSize: 2 };
const LIM = { maxElements: 1e6 };

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A session with one 64x64 blob image and half its objects labeled; returns the client that made it. */
async function labeledSession(url: string, seed: number): Promise<{ c: SparsecellClient; sessionId: string; generation: number }> {
  const c = await SparsecellClient.connect(url);
  const blobs = makeBlobs({ height: 64, width: 64, count: 6, seed });
  const { sessionId } = await c.call('session.create', { name: `s${seed}`, config: TINY });
  await c.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [64, 64]) });
  const { generation } = await c.call('labels.update', {
    sessionId,
    imageId: 'img1',
    labels: nd(sparsify(blobs.labels, (id) => id % 2 === 1).data, [64, 64]),
    encoding: 'signed',
  });
  return { c, sessionId, generation };
}

/** The $/progress notifications of a client (each client sees only its sessions'). */
function record(c: SparsecellClient): { progress: ProgressParams[]; events: EventParams[] } {
  const r = { progress: [] as ProgressParams[], events: [] as EventParams[] };
  c.onProgress((p) => r.progress.push(p));
  c.onEvent((e) => r.events.push(e));
  return r;
}

describe('cluster: front daemon + compute workers over a real Redis', function () {
  this.timeout(300_000);
  let redis: TestRedis;
  let home: string;
  let front: TestFront;
  const workers: TestWorker[] = [];

  before(async () => {
    await trainedBlobsModel(); // a model that finds objects (helpers/trained-model.ts), trained once per test run
    redis = await startRedis();
    home = tempHome('sparsecell-cluster-');
    front = await spawnFront(redis.url, home);
    workers.push(...(await Promise.all(['w1', 'w2', 'w3'].map((id) => spawnWorker(redis.url, home, id)))));
  });
  after(async () => {
    await Promise.all(workers.map((w) => stopProc(w.proc)));
    if (front) await stopProc(front.proc);
    await redis?.stop();
    cleanup(home);
    if (redis) cleanup(redis.dir);
  });

  it('server.info lists the three workers with their backend and load', async () => {
    const c = await SparsecellClient.connect(front.url);
    await until(async () => ((await c.call('server.info', {})).workers ?? []).length === 3, 10_000, 'three workers');
    const info = await c.call('server.info', {});
    expect(info.workers!.map((w) => w.workerId)).to.deep.equal(['w1', 'w2', 'w3']);
    for (const w of info.workers!) {
      expect(w.backend).to.be.oneOf(['tensorflow', 'wasm']);
      expect(w.load).to.be.within(0, 1);
    }
    expect(info.backend.name).to.not.equal('none');
    await c.close();
  });

  it('12 sessions train and predict; every job finishes and progress and pushes reach only the right client', async () => {
    const sessions = await Promise.all(Array.from({ length: 12 }, (_, i) => labeledSession(front.url, 100 + i)));
    const logs = sessions.map((s) => record(s.c));
    const jobs = await Promise.all(sessions.map((s) => s.c.call('model.train', { sessionId: s.sessionId, steps: 4, options: OPTS })));
    const ends = await Promise.all(sessions.map((s, i) => s.c.waitForProgressEnd(jobs[i].jobId, 240_000)));
    for (const e of ends) expect(e.state).to.equal('done');
    for (const [i, log] of logs.entries()) {
      // Every progress notification a client got is about its own job; it got begin, at least one report and end.
      expect(log.progress.length).to.be.greaterThan(2);
      expect(log.progress.every((p) => p.token === jobs[i].jobId)).to.equal(true);
      expect(log.progress.map((p) => p.kind)).to.include.members(['begin', 'report', 'end']);
      expect(log.events.every((e) => !('sessionId' in e) || e.sessionId === sessions[i].sessionId)).to.equal(true);
      expect(log.events.some((e) => e.type === 'model.updated')).to.equal(true);
    }
    const preds = await Promise.all(sessions.map((s) => s.c.call('model.predict', { sessionId: s.sessionId, imageId: 'img1' })));
    for (const p of preds) {
      expect(p.modelVersion).to.be.greaterThan(0);
      expect(decodeNdArray(p.labels, LIM).shape).to.deep.equal([64, 64]);
    }
    for (const s of sessions) {
      const info = await s.c.call('session.get', { sessionId: s.sessionId });
      expect(info.jobs.find((j) => j.jobId === jobs[sessions.indexOf(s)].jobId)?.state).to.equal('done');
      expect(info.modelVersion).to.be.greaterThan(0);
    }
    // All three workers took part (their records count jobs at the next heartbeat, once a second).
    await until(
      async () => ((await sessions[0].c.call('server.info', {})).workers ?? []).filter((w) => w.jobsDone > 0).length === 3,
      5_000,
      'every worker to report a finished job',
    );
    await Promise.all(sessions.map((s) => s.c.close()));
  });

  it("model errors, export and import go through the workers with the embedded daemon's error codes", async () => {
    const { c, sessionId } = await labeledSession(front.url, 41);
    expect((await rpcError(c.call('model.predict', { sessionId, imageId: 'img1' }))).code).to.equal(ErrorCode.ModelNotTrained);
    expect((await rpcError(c.call('model.suggest', { sessionId }))).code).to.equal(ErrorCode.ModelNotTrained);
    expect((await rpcError(c.call('model.cancel', { jobId: 'nojob' }))).code).to.equal(ErrorCode.JobNotFound);
    const both = await Promise.allSettled([0, 1].map(() => c.call('model.train', { sessionId, steps: 100_000, options: OPTS })));
    const started = both.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ jobId: string }>[];
    expect(started).to.have.length(1);
    expect(((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as RpcException).code).to.equal(ErrorCode.SessionBusy);
    await until(async () => ((await c.call('session.get', { sessionId })).modelVersion ?? 0) > 0, 60_000, 'a checkpoint');
    expect(await c.call('model.cancel', { jobId: started[0].value.jobId })).to.deep.equal({ cancelled: true, state: 'cancelled' });
    const bad = await rpcError(c.call('model.export', { sessionId, format: 'bioimageio' }));
    expect(bad.code).to.equal(ErrorCode.InvalidParams);
    expect((bad.data as Array<{ path: string }>)[0].path).to.equal('/format');
    // A model that finds objects, imported through a worker, predicted by the workers, exported and imported again:
    // both sessions find the same objects.
    const blobs = blobImage(3, 8);
    const s1 = await sessionWithTrainedModel(c, blobs);
    const p1 = expectObjects((await c.call('model.predict', { sessionId: s1, imageId: 'img1' })).labels, blobs, 'imported model');
    // model.suggest goes through a worker too: the embedded daemon's errors, and an answer for the whole plane.
    const badRegion = await rpcError(c.call('model.suggest', { sessionId: s1, imageId: 'img1', region: [0, 0, 65, 64] }));
    expect(badRegion.code).to.equal(ErrorCode.ShapeMismatch);
    expect((badRegion.data as Array<{ path: string }>)[0].path).to.equal('/region');
    const sug = await c.call('model.suggest', { sessionId: s1, imageId: 'img1', count: 5 });
    expect(sug).to.include({ imageId: 'img1' });
    expect(sug.region).to.deep.equal([0, 0, 64, 64]);
    expect(sug.modelVersion).to.be.at.least(1);
    expect(sug.suggestions.length).to.be.at.most(5);
    for (const q of sug.suggestions) {
      expect(q.imageId).to.equal('img1');
      expect(q.region[0]).to.be.at.least(0);
      expect(q.region[3]).to.be.at.most(64);
    }
    const exported = await c.call('model.export', { sessionId: s1 });
    expect(exported.bytes).to.be.greaterThan(1000);
    const { sessionId: s2 } = await c.call('session.create', { config: TRAINED_CONFIG });
    await c.call('image.add', { sessionId: s2, image: nd(toU8(blobs.image.data), [64, 64]) });
    const imported = await c.call('model.import', { sessionId: s2, model: exported.model });
    expect(imported.modelVersion).to.be.at.least(1);
    const p2 = expectObjects((await c.call('model.predict', { sessionId: s2, imageId: 'img1' })).labels, blobs, 're-imported model');
    expect(p2).to.deep.equal(p1);
    expect((await rpcError(c.call('model.import', { sessionId, model: Buffer.from('not a model').toString('base64') }))).code).to.be.oneOf([
      ErrorCode.InvalidModel,
      ErrorCode.InvalidParams,
    ]);
    await c.close();
  });

  it('a live session gets prediction.updated pushes for its view through Redis', async () => {
    const { c, sessionId } = await labeledSession(front.url, 7);
    await c.call('session.setView', { sessionId, imageId: 'img1', region: [0, 0, 32, 32] });
    const { jobId } = await c.call('model.train', { sessionId, live: true, options: OPTS });
    const push = await c.waitForEvent((e) => e.type === 'prediction.updated', 60_000);
    expect(push).to.deep.include({ sessionId, imageId: 'img1' });
    expect(decodeNdArray((push as { labels: Parameters<typeof decodeNdArray>[0] }).labels, LIM).shape).to.deep.equal([32, 32]);
    expect((await c.call('model.cancel', { jobId })).cancelled).to.equal(true);
    await c.close();
  });

  it('kill -9 of the worker running a training slice: another worker resumes from the checkpoint', async () => {
    const { c, sessionId } = await labeledSession(front.url, 11);
    const log = record(c);
    // Long enough to be still running at the kill on a quiet machine (a slice is ~10 steps of this tiny model).
    const { jobId } = await c.call('model.train', { sessionId, steps: 150, options: OPTS });
    // Wait for a checkpointed slice, then find the worker running the job now.
    await until(() => log.progress.some((p) => p.kind === 'report' && (p.step ?? 0) >= 2), 60_000, 'a first slice');
    let victim: TestWorker | undefined;
    await until(
      async () => {
        const info = await c.call('server.info', {});
        const w = info.workers?.find((x) => x.job?.jobId === jobId);
        victim = w && workers.find((x) => x.workerId === w.workerId);
        return victim !== undefined;
      },
      30_000,
      'the job on a worker',
    );
    const before = Math.max(...log.progress.filter((p) => p.kind === 'report').map((p) => p.step ?? 0));
    expect(
      log.progress.some((p) => p.kind === 'end'),
      'the job ended before the kill: nothing was resumed',
    ).to.equal(false);
    victim!.proc.kill('SIGKILL');
    workers.splice(workers.indexOf(victim!), 1);
    const end = await c.waitForProgressEnd(jobId, 240_000).catch(async (e: Error) => {
      // Say where the job stood, and what the workers and the front printed, so a failure in CI can be diagnosed.
      const info = await c.call('server.info', {}).catch(() => undefined);
      const tail = (s: string) => s.slice(-3000);
      throw new Error(
        `${e.message}\nprogress: ${JSON.stringify(log.progress.slice(-5))}\nworkers: ${JSON.stringify(info?.workers)}\n` +
          [...workers, victim!].map((w) => `--- ${w.workerId}:\n${tail(w.output())}`).join('\n'),
      );
    });
    expect(end.state).to.equal('done');
    expect(end.step).to.equal(150);
    // Steps never went back below the last checkpoint: the job went on from it, not from step 0.
    const after = log.progress.filter((p) => p.kind === 'report' && log.progress.indexOf(p) > 0).map((p) => p.step ?? 0);
    for (let i = 1; i < after.length; i++) expect(after[i]).to.be.at.least(after[i - 1]);
    expect(after.filter((s) => s > before).length).to.be.greaterThan(0);
    // It leaves server.info within three heartbeats.
    await until(
      async () => !((await c.call('server.info', {})).workers ?? []).some((w) => w.workerId === victim!.workerId),
      10_000,
      'the dead worker to leave',
    );
    // A replacement joins while sessions run.
    workers.push(await spawnWorker(redis.url, home, 'w4'));
    await until(async () => ((await c.call('server.info', {})).workers ?? []).some((w) => w.workerId === 'w4'), 10_000, 'w4 joins');
    await c.close();
  });

  it('a training slice that fails (its checkpoint cannot be written) ends the job as failed with the reason, never a silent stop', async () => {
    const { c, sessionId } = await labeledSession(front.url, 12);
    // A directory where the checkpoint file goes: the slice trains, then writing its checkpoint throws.
    mkdirSync(join(home, 'sessions', sessionId, 'model', 'checkpoint.bin', 'in-the-way'), { recursive: true });
    const { jobId } = await c.call('model.train', { sessionId, steps: 20, options: OPTS });
    const end = await c.waitForProgressEnd(jobId, 60_000);
    expect(end.state).to.equal('failed');
    expect(end.error).to.match(/training slice \d+ failed: /);
    const job = (await c.call('session.get', { sessionId })).jobs.find((j) => j.jobId === jobId);
    expect(job?.state).to.equal('failed');
    // The session goes on once the way is clear.
    rmSync(join(home, 'sessions', sessionId, 'model', 'checkpoint.bin'), { recursive: true, force: true });
    const again = await c.call('model.train', { sessionId, steps: 4, options: OPTS });
    expect((await c.waitForProgressEnd(again.jobId, 60_000)).state).to.equal('done');
    await c.close();
  });

  it('fairness: with more sessions than workers, no session waits more than one slice per other session; predictions go first', async () => {
    // One worker takes slices for 4 sessions (the others leave for this test and come back).
    const spare = workers.splice(1);
    await Promise.all(spare.map((w) => stopProc(w.proc)));
    const sessions = await Promise.all([21, 22, 23, 24].map((seed) => labeledSession(front.url, seed)));
    const order: string[] = [];
    for (const s of sessions) s.c.onProgress((p) => p.kind === 'report' && order.push(s.sessionId));
    // Long enough for several slices per session on a quiet machine too (a 0.3-s slice runs ~10 steps of this model).
    const jobs = await Promise.all(sessions.map((s) => s.c.call('model.train', { sessionId: s.sessionId, steps: 60, options: OPTS })));
    const ended = Promise.all(sessions.map((s, i) => s.c.waitForProgressEnd(jobs[i].jobId, 240_000)));
    // A prediction asked while 4 sessions train waits for the slice running now, not for the queued ones.
    await until(() => order.length >= 4, 60_000, 'a slice of every session');
    const asked = order.length;
    const p = await sessions[0].c.call('model.predict', { sessionId: sessions[0].sessionId, imageId: 'img1' });
    expect(p.modelVersion).to.be.greaterThan(0);
    expect(order.length - asked, 'slices finished while the prediction waited').to.be.at.most(1);
    await ended;
    // Every session had at least two slices, so the turn-taking below is tested for each.
    for (const s of sessions) expect(order.filter((id) => id === s.sessionId).length, `slices of ${s.sessionId}`).to.be.at.least(2);
    // Between two slices of one session, every other session had at most one slice.
    for (const s of sessions) {
      const idx = order.flatMap((id, i) => (id === s.sessionId ? [i] : []));
      for (let k = 1; k < idx.length; k++) {
        const between = order.slice(idx[k - 1] + 1, idx[k]);
        for (const o of sessions) if (o !== s) expect(between.filter((id) => id === o.sessionId).length).to.be.at.most(1);
      }
    }
    await Promise.all(sessions.map((s) => s.c.close()));
    workers.push(...(await Promise.all(['w5', 'w6'].map((id) => spawnWorker(redis.url, home, id)))));
  });

  it('kill -9 of Redis and of the front daemon: no acknowledged label is lost and the session goes on', async () => {
    const { c, sessionId } = await labeledSession(front.url, 31);
    const acked: number[] = [];
    for (let k = 0; k < 5; k++) {
      const patch = new Int32Array(8 * 8).fill(k + 1);
      const r = await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(patch, [8, 8]), origin: [8 * k, 0], encoding: 'signed' });
      acked.push(r.generation);
    }
    const { jobId } = await c.call('model.train', { sessionId, steps: 30, options: OPTS });
    await c.close();
    await stopProc(front.proc, 'SIGKILL');
    await redis.kill();
    await redis.restart();
    front = await spawnFront(redis.url, home);
    const c2 = await SparsecellClient.connect(front.url);
    const info = await c2.call('session.get', { sessionId });
    expect(info.generation).to.equal(acked[acked.length - 1]);
    const labels = decodeNdArray((await c2.call('labels.get', { sessionId, imageId: 'img1', encoding: 'signed' })).labels, LIM);
    for (let k = 0; k < 5; k++) expect(labels.data[8 * k * 64]).to.equal(k + 1);
    // The job kept its place in the queue (Redis's append-only file) and finishes on the workers.
    await until(async () => (await c2.call('session.get', { sessionId })).jobs.some((j) => j.jobId === jobId), 10_000, 'the job listed after the restart');
    await until(async () => (await c2.call('session.get', { sessionId })).jobs.find((j) => j.jobId === jobId)?.state === 'done', 120_000, 'the job to finish');
    // And the session goes on: a new label and a prediction.
    const r = await c2.call('labels.update', {
      sessionId,
      imageId: 'img1',
      labels: nd(new Int32Array(4).fill(9), [2, 2]),
      origin: [60, 60],
      encoding: 'signed',
    });
    expect(r.generation).to.equal(acked[acked.length - 1] + 1);
    const p = await c2.call('model.predict', { sessionId, imageId: 'img1' });
    expect(p.modelVersion).to.be.greaterThan(0);
    await c2.close();
  });
});
