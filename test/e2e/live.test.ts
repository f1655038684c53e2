/** Live mode over a real WebSocket server: retraining while labels stream in, pushed predictions, fairness. */
import { expect } from 'chai';
import { useDaemon } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { matching } from '../../server/metrics/matching.js';
import type { EventParams } from '../../protocol/src/progress.js';
import type { Labels2D } from '../../server/imaging/types.js';

const TINY = { unetDepth: 2, unetFilters: 16 };
const H = 96,
  W = 96;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Labels of the held-out objects only (the rest 0), to score what the person never annotated. */
function heldOut(gt: Labels2D, annotated: Set<number>): Labels2D {
  return { height: gt.height, width: gt.width, data: gt.data.map((v) => (v > 0 && !annotated.has(v) ? v : 0)) };
}

/** Recall on held-out objects: predicted objects overlapping only annotated ones are not counted against us. */
function heldOutRecall(ev: Extract<EventParams, { type: 'prediction.updated' }>, gt: Labels2D, annotated: Set<number>): number {
  const pred = decodeNdArray(ev.labels, { maxElements: 1e7 }).data as Int32Array;
  const m = matching(heldOut(gt, annotated), { height: H, width: W, data: Int32Array.from(pred) }, 0.5);
  return m.recall;
}

describe('e2e: live mode', function () {
  this.timeout(240000);
  const t = useDaemon();

  it('streamed label patches retrain the model and pushed predictions improve on held-out objects', async () => {
    const blobs = makeBlobs({ height: H, width: W, count: 24, minRadius: 4, maxRadius: 7, seed: 11 });
    const { sessionId } = await t.c.call('session.create', { name: 'live', config: TINY });
    await t.c.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [H, W]) });
    await t.c.call('session.setView', { sessionId, imageId: 'img1', region: [0, 0, H, W] });
    const events: Extract<EventParams, { type: 'prediction.updated' }>[] = [];
    t.c.onEvent((e) => {
      if (e.type === 'prediction.updated' && e.sessionId === sessionId) events.push(e);
    });
    const { jobId } = await t.c.call('model.train', { sessionId, live: true, options: { patchSize: 32, batchSize: 4, learningRate: 0.003 } });

    // A person annotates the top half, a few objects at a time, with background strokes in between.
    const annotated = new Set<number>();
    const topIds = [...new Set([...blobs.labels.data.subarray(0, (H / 2) * W)].filter((v) => v > 0))];
    const gens: number[] = [];
    for (let round = 0; round < 4; round++) {
      const ids = topIds.slice(round * 3, round * 3 + 3);
      ids.forEach((id) => annotated.add(id));
      // Patch: the top half, with the annotated objects, background where dense GT is background, rest unlabeled.
      const ph = H / 2;
      const patch = new Int32Array(ph * W);
      for (let i = 0; i < ph * W; i++) {
        const v = blobs.labels.data[i];
        patch[i] = v === 0 ? (i % W < 16 * (round + 1) + 16 ? 0 : -1) : annotated.has(v) ? v : -1;
      }
      const r = await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(patch, [ph, W]), encoding: 'signed', origin: [0, 0] });
      gens.push(r.generation);
      await sleep(4000);
    }
    // Wait for a prediction that includes the last edit.
    const last = gens[gens.length - 1];
    const deadline = Date.now() + 60000;
    while (!events.some((e) => e.generation >= last && e.modelVersion > 0) && Date.now() < deadline) await sleep(200);
    await sleep(8000); // a few more pushes with the full stream
    const end = t.c.waitForProgressEnd(jobId);
    await t.c.call('model.cancel', { jobId });
    expect((await end).state).to.equal('cancelled');

    expect(events.length).to.be.greaterThan(3);
    // Generations only grow, and every event's labels cover the view.
    for (let i = 1; i < events.length; i++) expect(events[i].generation).to.be.at.least(events[i - 1].generation);
    expect(events.every((e) => e.labels.shape[0] === H && e.labels.shape[1] === W)).to.equal(true);
    const heldOutIds = [...new Set(blobs.labels.data)].filter((v) => v > 0 && !annotated.has(v));
    expect(heldOutIds.length).to.be.greaterThan(8);
    const first = heldOutRecall(events[0], blobs.labels, annotated);
    const final = Math.max(...events.slice(-3).map((e) => heldOutRecall(e, blobs.labels, annotated)));
    expect(final, `held-out recall first ${first.toFixed(2)} -> final ${final.toFixed(2)}`).to.be.greaterThan(first + 0.2);
    expect(final).to.be.greaterThan(0.5);
  });

  it('a session whose client disconnects keeps training; reconnecting resumes events', async () => {
    const blobs = makeBlobs({ height: 64, width: 64, count: 8, seed: 5 });
    const a = await t.d.connect();
    const { sessionId } = await a.call('session.create', { config: TINY });
    await a.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [64, 64]) });
    await a.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
    await a.call('session.setView', { sessionId, imageId: 'img1', region: [0, 0, 64, 64] });
    const { jobId } = await a.call('model.train', { sessionId, live: true, options: { patchSize: 32, batchSize: 2 } });
    await a.close();
    await sleep(1500);
    const b = await t.d.connect();
    const info = await b.call('session.get', { sessionId }); // attaches b to the session
    expect(info.jobs.find((j) => j.jobId === jobId)!.state).to.equal('running');
    const ev = b.waitForEvent((e) => e.type === 'prediction.updated' && e.sessionId === sessionId, 60000);
    await b.call('labels.update', { sessionId, imageId: 'img1', labels: nd(new Int32Array(4).fill(0), [2, 2]), encoding: 'signed', origin: [0, 0] });
    expect((await ev).type).to.equal('prediction.updated');
    await b.call('model.cancel', { jobId });
    await b.close();
  });

  it('two sessions train at once and both progress; model.configure changes options while running', async () => {
    const blobs = makeBlobs({ height: 64, width: 64, count: 8, seed: 6 });
    const ids: string[] = [];
    const jobs: string[] = [];
    const steps = new Map<string, number>();
    t.c.onProgress((p) => {
      if (p.kind === 'report' && typeof p.token === 'string') steps.set(p.token, p.step ?? 0);
    });
    for (let i = 0; i < 2; i++) {
      const { sessionId } = await t.c.call('session.create', { config: TINY });
      await t.c.call('image.add', { sessionId, image: nd(toU8(blobs.image.data), [64, 64]) });
      await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(blobs.labels.data, [64, 64]), encoding: 'signed' });
      ids.push(sessionId);
      jobs.push((await t.c.call('model.train', { sessionId, steps: 100000, options: { patchSize: 32, batchSize: 2 } })).jobId);
    }
    const conf = await t.c.call('model.configure', { sessionId: ids[0], options: { learningRate: 0.0001, pushEverySteps: 5 } });
    expect(conf.options.learningRate).to.equal(0.0001);
    expect(conf.options.pushEverySteps).to.equal(5);
    await sleep(5000);
    const s0 = steps.get(jobs[0]) ?? 0,
      s1 = steps.get(jobs[1]) ?? 0;
    expect(s0).to.be.greaterThan(2);
    expect(s1).to.be.greaterThan(2);
    // Round-robin slices: neither starves (within a factor of 3 of the other).
    expect(Math.max(s0, s1) / Math.min(s0, s1)).to.be.lessThan(3);
    for (const j of jobs) await t.c.call('model.cancel', { jobId: j });
  });
});
