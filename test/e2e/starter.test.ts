/**
 * Starter models over a real WebSocket server (issue 14): server.info lists them with the recipe, a session created
 * with a starter predicts at once (zero-shot) with the thresholds stored in the archive, then labels.update ->
 * train (fine-tune) -> predict; from: "starter" | "scratch"; live mode pushes a zero-shot prediction before the
 * first step; a restarted daemon still knows the session's starter. The starter is a small model trained in this
 * process and put in a temp models folder (ServerConfig.modelsDir).
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDaemon, tempHome, cleanup, type TestDaemon } from '../helpers/daemon.js';
import { nd, toU8 } from '../helpers/arrays.js';
import { STARTER_THRESHOLDS, pretrainBlobs, testStarterDir } from '../helpers/starter.js';
import { sparsify } from '../../scripts/synthetic.js';
import { SparsecellClient, RpcException } from '../../clients/typescript/src/client.js';
import { decodeNdArray } from '../../protocol/src/ndarray.js';
import { ErrorCode } from '../../protocol/src/errors.js';
import type { EventParams, ProgressParams } from '../../protocol/src/progress.js';
import { matching } from '../../server/metrics/matching.js';
import { recipeForClients } from '../../server/recipe.js';
import type { PredictionResult } from '../../protocol/src/methods.js';

const S = 96;
const scene = pretrainBlobs(900, S); // same kind of image as the starter saw, never trained on
const objects = (labels: PredictionResult['labels']) =>
  new Set(Array.from(decodeNdArray(labels, { maxElements: 1e7 }).data as Int32Array).filter((v) => v > 0)).size;
const f1 = (p: PredictionResult) =>
  matching(scene.labels, { height: S, width: S, data: Int32Array.from(decodeNdArray(p.labels, { maxElements: 1e7 }).data as Int32Array) }, 0.5).f1;

async function rpcError(p: Promise<unknown>): Promise<{ code: number; path?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as RpcException;
    return { code: err.code, path: (err.data as Array<{ path: string }> | undefined)?.[0]?.path, message: err.message };
  }
  throw new Error('expected an error');
}

describe('e2e: starter models', function () {
  this.timeout(300000);
  let d: TestDaemon, c: SparsecellClient, dir: string, home: string;

  before(async () => {
    ({ dir } = await testStarterDir());
    home = tempHome();
    d = await startTestDaemon({ modelsDir: dir, home });
    c = await d.connect();
  });
  after(async () => {
    await c?.close();
    await d?.stop();
    cleanup(home);
  });

  async function starterSession(extra: Record<string, unknown> = {}): Promise<string> {
    const { sessionId, starter } = await c.call('session.create', { name: 'starter', starter: 'nuclei', ...extra });
    expect(starter).to.equal('nuclei');
    await c.call('image.add', { sessionId, image: nd(toU8(scene.image.data), [S, S]) });
    return sessionId;
  }

  it('server.info lists the starter (name, family, description, scores) and the training recipe', async () => {
    const info = await c.call('server.info', {});
    const card = (name: string) => ({
      name,
      family: 'stardist',
      description: 'test stardist starter trained on synthetic blobs',
      scores: { accuracy05: 0.9, f1: 0.95, pq: 0.8, testImages: 3 },
    });
    expect(info.starterModels).to.deep.equal([card('nuclei'), card('strict')]);
    expect(info.recipe).to.deep.equal(recipeForClients());
    expect(info.recipe!.budgetS).to.be.greaterThan(0);
  });

  it('refuses an unknown starter, a family without one, and config with a starter (-32602 naming the field)', async () => {
    let e = await rpcError(c.call('session.create', { starter: 'nope' }));
    expect([e.code, e.path]).to.deep.equal([ErrorCode.InvalidParams, '/starter']);
    expect(e.message).to.match(/starter/);
    e = await rpcError(c.call('session.create', { starter: 'nuclei', family: 'cellpose' }));
    expect([e.code, e.path]).to.deep.equal([ErrorCode.InvalidParams, '/starter']);
    e = await rpcError(c.call('session.create', { starter: 'nuclei', config: { nRays: 16 } }));
    expect([e.code, e.path]).to.deep.equal([ErrorCode.InvalidParams, '/config']);
    const cp = await c.call('session.create', { family: 'cellpose' });
    await c.call('image.add', { sessionId: cp.sessionId, image: nd(toU8(scene.image.data), [S, S]) });
    e = await rpcError(c.call('model.train', { sessionId: cp.sessionId, from: 'starter', live: true }));
    expect([e.code, e.path]).to.deep.equal([ErrorCode.InvalidParams, '/from']);
  });

  it('zero-shot predict with the stored thresholds -> labels.update -> fine-tune -> predict', async function () {
    const sessionId = await starterSession();
    expect((await c.call('session.get', { sessionId })).starter).to.equal('nuclei');
    const zero = await c.call('model.predict', { sessionId, imageId: 'img1' });
    expect(zero.modelVersion).to.equal(0);
    expect(objects(zero.labels)).to.be.at.least(5);
    const f0 = f1(zero);
    expect(f0, 'zero-shot F1 on an unseen image').to.be.at.least(0.6);
    // The archive's thresholds are the defaults: the same as passing them; a request's own thresholds still win.
    const explicit = await c.call('model.predict', { sessionId, imageId: 'img1', ...STARTER_THRESHOLDS });
    expect(explicit.labels.data).to.equal(zero.labels.data);
    const strict = await c.call('model.predict', { sessionId, imageId: 'img1', probThresh: 0.999 });
    expect(objects(strict.labels)).to.be.below(objects(zero.labels));
    // Same weights, a starter whose archive stores probThresh 0.999: its zero-shot default is that strict result.
    const other = await c.call('session.create', { starter: 'strict' });
    await c.call('image.add', { sessionId: other.sessionId, image: nd(toU8(scene.image.data), [S, S]) });
    expect((await c.call('model.predict', { sessionId: other.sessionId, imageId: 'img1' })).labels.data).to.equal(strict.labels.data);
    expect((await c.call('model.predict', { sessionId: other.sessionId, imageId: 'img1', ...STARTER_THRESHOLDS })).labels.data).to.equal(zero.labels.data);

    const sparse = sparsify(scene.labels, (id) => id % 3 === 0);
    for (let i = 0; i < sparse.data.length; i++) if (sparse.data[i] === 0 && i % S > 24) sparse.data[i] = -1;
    await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparse.data, [S, S]), encoding: 'signed' });
    const { jobId } = await c.call('model.train', { sessionId, steps: 12, options: { patchSize: 64, batchSize: 2 } });
    const end = await c.waitForProgressEnd(jobId);
    expect(end.state).to.equal('done');
    const tuned = await c.call('model.predict', { sessionId, imageId: 'img1' });
    expect(tuned.modelVersion).to.be.greaterThan(0);
    expect(tuned.generation).to.equal(1);
    expect(objects(tuned.labels)).to.be.at.least(5);
    this.test!.title += ` [F1 zero-shot ${f0.toFixed(2)}, after 12 fine-tuning steps ${f1(tuned).toFixed(2)}]`;
    expect(f1(tuned)).to.be.at.least(0.5);
    const info = await c.call('session.get', { sessionId });
    expect(info.starter).to.equal('nuclei');
    expect(info.modelVersion).to.be.greaterThan(0);
  });

  it('dark objects on a bright background: the first model.train inverts the starter input (session.get adaptation), kept by a restarted daemon', async function () {
    const dark = Float32Array.from(scene.image.data, (v) => 1 - v);
    const { sessionId } = await c.call('session.create', { name: 'dark', starter: 'nuclei' });
    await c.call('image.add', { sessionId, image: nd(toU8(dark), [S, S]) });
    const zero = await c.call('model.predict', { sessionId, imageId: 'img1' });
    expect((await c.call('session.get', { sessionId })).adaptation).to.equal(undefined);
    // 7 of 14 objects and the background near them
    const sparse = sparsify(
      scene.labels,
      (id) => id % 2 === 0,
      (y, x) => x < 48,
    );
    await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparse.data, [S, S]), encoding: 'signed' });
    const messages: string[] = [];
    const off = c.onProgress((p) => {
      if (p.message) messages.push(p.message);
    });
    const { jobId } = await c.call('model.train', { sessionId, steps: 2, options: { patchSize: 64, batchSize: 2 } });
    expect((await c.waitForProgressEnd(jobId)).state).to.equal('done');
    off();
    expect(messages.join('\n'), 'a progress report says what changed').to.match(/starter adapted to your images from 7 labeled objects: intensities inverted/);
    const info = await c.call('session.get', { sessionId });
    expect(info.adaptation?.invert, 'inverted').to.equal(true);
    expect(info.adaptation?.scale).to.be.a('number');
    const adapted = await c.call('model.predict', { sessionId, imageId: 'img1' });
    this.test!.title += ` [F1 as shipped ${f1(zero).toFixed(2)}, adapted + 2 steps ${f1(adapted).toFixed(2)}]`;
    expect(f1(zero)).to.be.below(0.3);
    expect(f1(adapted)).to.be.at.least(0.6);
    // the checkpoint carries it: a restarted daemon predicts the same, and session.get still reports it
    await c.close();
    await d.stop();
    d = await startTestDaemon({ modelsDir: dir, home });
    c = await d.connect();
    expect((await c.call('session.get', { sessionId })).adaptation).to.deep.equal(info.adaptation);
    expect((await c.call('model.predict', { sessionId, imageId: 'img1' })).labels.data).to.equal(adapted.labels.data);
    // A daemon that stopped after choosing but before a checkpoint carried it: the model on disk has no adaptation,
    // and session.get says so (the model is the truth) instead of reporting the lost choice.
    await c.close();
    await d.stop();
    writeFileSync(join(home, 'sessions', sessionId, 'model', 'checkpoint.bin'), (await testStarterDir()).archive);
    d = await startTestDaemon({ modelsDir: dir, home });
    c = await d.connect();
    await c.call('model.predict', { sessionId, imageId: 'img1' }); // loads the session's model
    expect((await c.call('session.get', { sessionId })).adaptation).to.equal(undefined);
  });

  it('without a starter nothing changes; from: "starter" and from: "scratch" switch the model', async () => {
    const plain = await c.call('session.create', {});
    await c.call('image.add', { sessionId: plain.sessionId, image: nd(toU8(scene.image.data), [S, S]) });
    expect((await rpcError(c.call('model.predict', { sessionId: plain.sessionId, imageId: 'img1' }))).code).to.equal(ErrorCode.ModelNotTrained);
    expect((await c.call('session.get', { sessionId: plain.sessionId })).starter).to.equal(undefined);
    // from: "starter" on a session created without one: the family's "nuclei" starter, predicting at once.
    const live = await c.call('model.train', { sessionId: plain.sessionId, from: 'starter', live: true });
    expect((await c.call('session.get', { sessionId: plain.sessionId })).starter).to.equal('nuclei');
    const p = await c.call('model.predict', { sessionId: plain.sessionId, imageId: 'img1' });
    expect(objects(p.labels)).to.be.at.least(5);
    await c.call('model.cancel', { jobId: live.jobId });
    // from: "scratch": fresh weights, no starter any more (and no model until it trains).
    const scratch = await c.call('model.train', { sessionId: plain.sessionId, from: 'scratch', live: true });
    expect((await c.call('session.get', { sessionId: plain.sessionId })).starter).to.equal(undefined);
    expect((await rpcError(c.call('model.predict', { sessionId: plain.sessionId, imageId: 'img1' }))).code).to.equal(ErrorCode.ModelNotTrained);
    await c.call('model.cancel', { jobId: scratch.jobId });
  });

  it('live mode from a starter pushes a zero-shot prediction before the first step, then the fine-tuned model', async () => {
    const sessionId = await starterSession();
    const events: Extract<EventParams, { type: 'prediction.updated' }>[] = [];
    const reportsAtFirstPush: number[] = [];
    let reports = 0;
    c.onProgress((p: ProgressParams) => {
      if (p.kind === 'report') reports++;
    });
    c.onEvent((e) => {
      if (e.type !== 'prediction.updated' || e.sessionId !== sessionId) return;
      if (!events.length) reportsAtFirstPush.push(reports);
      events.push(e);
    });
    await c.call('session.setView', { sessionId, imageId: 'img1', region: [0, 0, S, S] });
    const { jobId } = await c.call('model.train', { sessionId, live: true, options: { patchSize: 64, batchSize: 2 } });
    const first = (await c.waitForEvent((e) => e.type === 'prediction.updated' && e.sessionId === sessionId, 60000)) as Extract<
      EventParams,
      { type: 'prediction.updated' }
    >;
    expect(first.modelVersion, 'the first push is the starter itself').to.equal(0);
    expect(reportsAtFirstPush).to.deep.equal([0]);
    expect(objects(first.labels), 'zero-shot objects in the first push').to.be.at.least(5);
    // Nothing labeled yet: no training step ran. Now label, and wait for a push from the fine-tuned model.
    const sparse = sparsify(scene.labels, (id) => id % 2 === 0);
    await c.call('labels.update', { sessionId, imageId: 'img1', labels: nd(sparse.data, [S, S]), encoding: 'signed' });
    const later = (await c.waitForEvent((e) => e.type === 'prediction.updated' && e.sessionId === sessionId && e.modelVersion > 0, 120000)) as Extract<
      EventParams,
      { type: 'prediction.updated' }
    >;
    expect(later.generation).to.equal(1);
    expect(objects(later.labels)).to.be.greaterThan(0);
    const end = c.waitForProgressEnd(jobId);
    await c.call('model.cancel', { jobId });
    expect((await end).state).to.equal('cancelled');
  });

  it('a restarted daemon still knows the starter: an untrained starter session predicts the same at once', async () => {
    const sessionId = await starterSession();
    const before = await c.call('model.predict', { sessionId, imageId: 'img1' });
    await c.close();
    await d.stop();
    d = await startTestDaemon({ modelsDir: dir, home });
    c = await d.connect();
    const info = await c.call('session.get', { sessionId });
    expect(info.starter).to.equal('nuclei');
    expect(info.modelVersion ?? 0).to.equal(0);
    const after = await c.call('model.predict', { sessionId, imageId: 'img1' });
    expect(objects(after.labels)).to.be.at.least(5);
    expect(after.labels.data).to.equal(before.labels.data);
  });
});
