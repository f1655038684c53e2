/** model.suggest and the live suggestions.updated push over a real WebSocket server (issue 18). */
import { expect } from 'chai';
import { useDaemon } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { rpcError } from '../helpers/rpc.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import { TRAINED_CONFIG, trainedBlobsModel } from '../helpers/trained-model.js';
import type { EventParams } from '../../protocol/src/progress.js';
import type { ResultOf } from '../../protocol/src/methods.js';
import { validate, validateResult } from '../../protocol/src/validate.js';
import { EventParams as EventSchema } from '../../protocol/src/progress.js';

const H = 96,
  W = 96;
type Sug = ResultOf<'model.suggest'>['suggestions'][number];

/**
 * Clear blobs (as the shared model was trained on) in the top half, and two ambiguous objects in the bottom half:
 * a dim blob (intensity 0.3 on 0.1) and two blobs that touch. Labeled: two clear objects and a background strip.
 */
function scene() {
  const b = makeBlobs({ height: 48, width: W, count: 7, minRadius: 5, maxRadius: 7, seed: 21 });
  const img = new Float32Array(H * W).fill(0.1);
  img.set(b.image.data);
  const truth = new Int32Array(H * W);
  truth.set(b.labels.data);
  const disk = (cy: number, cx: number, r: number, v: number, id: number) => {
    for (let y = cy - r; y <= cy + r; y++)
      for (let x = cx - r; x <= cx + r; x++)
        if ((y - cy) ** 2 + (x - cx) ** 2 <= r * r) {
          img[y * W + x] = v;
          truth[y * W + x] = id;
        }
  };
  disk(72, 20, 6, 0.3, 101); // dim
  disk(72, 60, 6, 0.8, 102); // two touching blobs
  disk(72, 71, 6, 0.8, 103);
  for (let i = 0; i < img.length; i++) img[i] += 0.03 * Math.sin(i * 12.9898) * Math.sin(i * 78.233);
  const labels = new Int32Array(H * W).fill(-1);
  const labeledIds = [1, 2];
  for (let i = 0; i < labels.length; i++) if (labeledIds.includes(truth[i])) labels[i] = truth[i];
  for (let i = 0; i < 3 * W; i++) if (truth[i] === 0) labels[i] = 0;
  return { img, truth, labels, labeledIds, clearIds: [...new Set(b.labels.data)].filter((v) => v > 0 && !labeledIds.includes(v)) };
}

/** Ids of the true objects a suggestion covers most (object: its polygon's bounding box). */
function coveredId(s: Sug, truth: Int32Array): number {
  const n = new Map<number, number>();
  for (let y = s.region[0]; y < s.region[2]; y++) for (let x = s.region[1]; x < s.region[3]; x++) n.set(truth[y * W + x], (n.get(truth[y * W + x]) ?? 0) + 1);
  n.delete(0);
  return [...n].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
}

describe('e2e: model.suggest (what to annotate next)', function () {
  this.timeout(240000);
  const t = useDaemon();
  let sessionId = '';
  const sc = scene();
  before(async () => {
    const model = await trainedBlobsModel();
    ({ sessionId } = await t.c.call('session.create', { config: TRAINED_CONFIG }));
    await t.c.call('image.add', { sessionId, image: nd(toU8(sc.img), [H, W]) });
    await t.c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sc.labels, [H, W]), encoding: 'signed' });
    await t.c.call('model.import', { sessionId, model });
  });

  it('ranks the ambiguous objects (dim blob, touching blobs) above the clear ones and never suggests what is labeled', async () => {
    const r = await t.c.call('model.suggest', { sessionId, imageId: 'img1', count: 30, tta: 3 });
    expect(validateResult('model.suggest', r)).to.deep.equal([]);
    const objects = r.suggestions.filter((s) => s.kind === 'object');
    const ids = objects.map((s) => coveredId(s, sc.truth));
    const ranked = JSON.stringify(objects.map((s, i) => [s.reason, s.score, ids[i], s.region]));
    expect(objects.length).to.be.at.least(3);
    expect(ids[0], `the top object is an ambiguous one: ${ranked}`).to.be.at.least(101);
    const firstAmbiguous = ids.findIndex((id) => id >= 101);
    const firstClear = ids.findIndex((id) => sc.clearIds.includes(id));
    expect(firstAmbiguous, ranked).to.be.at.least(0);
    if (firstClear >= 0) expect(firstAmbiguous).to.be.lessThan(firstClear);
    for (const id of sc.labeledIds) expect(ids, 'a labeled object was suggested').to.not.include(id);
    for (let i = 1; i < r.suggestions.length; i++) expect(r.suggestions[i].score).to.be.at.most(r.suggestions[i - 1].score);
    expect(r.imageId).to.equal('img1');
    expect(r.region).to.deep.equal([0, 0, H, W]);
  });

  it('defaults to the session view, and answers bad input with errors naming the field', async () => {
    await t.c.call('session.setView', { sessionId, imageId: 'img1', region: [48, 0, 96, 48] });
    const r = await t.c.call('model.suggest', { sessionId, count: 5 });
    expect(r.region).to.deep.equal([48, 0, 96, 48]);
    expect(r.suggestions.length).to.be.within(1, 5);
    for (const s of r.suggestions) expect(s.region[0] + s.region[2]).to.be.at.least(2 * 48 - 16); // centred in the view (objects may reach out)
    const bad = async (params: Record<string, unknown>, code: number, path: string) => {
      const e = await rpcError(t.c.call('model.suggest', { sessionId, ...params } as never));
      expect(e.code, JSON.stringify(params)).to.equal(code);
      expect(JSON.stringify(e.data), JSON.stringify(params)).to.contain(path);
    };
    await bad({ imageId: 'img1', region: [0, 0, 200, 10] }, -32803, '/region');
    await bad({ imageId: 'img1', z: 2 }, -32803, '/z');
    await bad({ count: 0 }, -32602, '/count');
    await bad({ reasons: ['curious'] }, -32602, '/reasons');
    await bad({ tta: 4 }, -32602, '/tta');
    const e = await rpcError(t.c.call('model.suggest', { sessionId, imageId: 'img9' }));
    expect(e.code).to.equal(-32802);
    const { sessionId: fresh } = await t.c.call('session.create', { config: TRAINED_CONFIG });
    await t.c.call('image.add', { sessionId: fresh, image: nd(toU8(sc.img), [H, W]) });
    expect((await rpcError(t.c.call('model.suggest', { sessionId: fresh }))).code).to.equal(-32806);
  });

  it('live: suggestions.updated follows prediction pushes for the view, at most once per suggestEveryS', async () => {
    const { sessionId: live } = await t.c.call('session.create', { config: TRAINED_CONFIG });
    await t.c.call('image.add', { sessionId: live, image: nd(toU8(sc.img), [H, W]) });
    await t.c.call('model.import', { sessionId: live, model: await trainedBlobsModel() });
    await t.c.call('session.setView', { sessionId: live, imageId: 'img1', region: [0, 0, H, W] });
    const events: EventParams[] = [];
    t.c.onEvent((e) => {
      if (e.sessionId === live && (e.type === 'prediction.updated' || e.type === 'suggestions.updated')) events.push(e);
    });
    const { jobId } = await t.c.call('model.train', {
      sessionId: live,
      live: true,
      options: { patchSize: 32, batchSize: 2, pushEveryS: 0.5, pushEverySteps: 1, suggestEveryS: 600 },
    });
    await t.c.call('labels.update', { sessionId: live, imageId: 'img1', labels: nd(sc.labels, [H, W]), encoding: 'signed' });
    const deadline = Date.now() + 120000;
    const count = (type: string) => events.filter((e) => e.type === type).length;
    while (count('prediction.updated') < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(count('prediction.updated')).to.be.at.least(3);
    expect(count('suggestions.updated'), 'one push per suggestEveryS').to.equal(1);
    const first = events.findIndex((e) => e.type === 'suggestions.updated');
    expect(events[first - 1]?.type, 'right after a prediction push').to.equal('prediction.updated');
    const ev = events[first] as Extract<EventParams, { type: 'suggestions.updated' }>;
    expect(validate(EventSchema, ev)).to.deep.equal([]);
    expect(ev.imageId).to.equal('img1');
    expect(ev.region).to.deep.equal([0, 0, H, W]);
    expect(ev.suggestions.length).to.be.greaterThan(0);
    expect(ev.modelVersion).to.be.at.least(1);
    // a shorter interval takes effect while the job runs
    await t.c.call('model.configure', { sessionId: live, options: { suggestEveryS: 0.1 } });
    while (count('suggestions.updated') < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(count('suggestions.updated')).to.be.at.least(3);
    await t.c.call('model.cancel', { jobId });
  });
});
