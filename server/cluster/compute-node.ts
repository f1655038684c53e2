/**
 * `sparsecell worker`: a compute worker of the cluster. It takes tasks from the BullMQ queue (predictions, imports
 * and exports first, then training slices), loads the session from the shared store (images, labels, the latest
 * checkpoint), checkpoints back after every slice and publishes progress and pushes on Redis for the front daemon.
 *
 * A training job is a chain of slices: each slice trains for at most sliceMs, writes the checkpoint, records the
 * step in Redis and queues the next slice behind every other session's. So sessions take turns across all workers,
 * and a worker that dies mid-slice loses only that slice: BullMQ's stalled-job check hands it to another worker,
 * which starts from the last checkpoint.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { Store } from '../storage/store.js';
import { StarterRegistry, defaultModelsDir } from '../storage/starters.js';
import { Session, type SessionMeta } from '../sessions/session.js';
import { ComputeWorker, WorkerError } from '../training/compute-worker.js';
import { SERVICE_DEFAULTS } from '../training/service.js';
import { jobDue, jobProgress, sliceOptions, suggestionsResult } from '../training/job-rules.js';
import type { LiveTrainOptions, PredictResult, SuggestResult, TrainSliceResult, WorkerImage } from '../training/worker-protocol.js';
import type { BackendInfo } from '../sessions/model-service.js';
import type { PredictionResult } from '../../protocol/src/methods.js';
import { CLUSTER_DEFAULTS, clusterKeys, readJob, type ClusterJob, type ClusterMessage, type ClusterTask, type PredictTask, type WorkerRecord } from './keys.js';

export interface ComputeNodeOptions {
  redisUrl: string;
  /** The shared session store (the front daemon's --home). */
  home: string;
  backend?: string;
  workerId?: string;
  modelsDir?: string;
  tfThreads?: { intra: number; inter: number };
  computeNice?: number;
  maxObjects?: number;
  prefix?: string;
  lockMs?: number;
  stalledMs?: number;
  sliceMs?: number;
  log: Logger;
}

/** A session this worker holds in its compute thread, and what it was loaded at. */
interface Held {
  session: Session;
  /** Id of the weights in the thread (the checkpoint it loaded or wrote). */
  weights: string;
  /** Label generation of each image the thread holds. */
  imageGenerations: Map<string, number>;
  lastUsed: number;
}

export interface ComputeNode {
  workerId: string;
  backend: BackendInfo;
  close(): Promise<void>;
}

export async function startComputeNode(o: ComputeNodeOptions): Promise<ComputeNode> {
  const workerId = o.workerId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const log = o.log.child({ workerId });
  const keys = clusterKeys(o.prefix);
  const store = new Store(o.home);
  const starters = new StarterRegistry(o.modelsDir ?? defaultModelsDir());
  const sliceMs = o.sliceMs ?? CLUSTER_DEFAULTS.sliceMs;
  // Live slices are shorter: a label update waits for the slice in progress before it is trained on.
  const liveSliceMs = Math.min(sliceMs, CLUSTER_DEFAULTS.liveSliceMs);
  const redisOpts = { maxRetriesPerRequest: null, lazyConnect: false } as const;
  const redis = new Redis(o.redisUrl, redisOpts);
  const sub = new Redis(o.redisUrl, redisOpts);
  // BullMQ does not close connections it is given: these are closed by close().
  const queueConn = new Redis(o.redisUrl, redisOpts);
  const workerConn = new Redis(o.redisUrl, redisOpts);
  const queue = new Queue(CLUSTER_DEFAULTS.queue, { connection: queueConn, prefix: o.prefix });
  for (const c of [redis, sub, queueConn, workerConn]) c.on('error', (e: Error) => log.warn({ err: e.message }, 'redis connection'));

  let dead: Error | undefined;
  const compute = new ComputeWorker((e) => {
    dead = e;
    log.error({ err: e.message }, 'compute thread died; this worker stops taking jobs');
    void close();
  });
  const backend = await compute.call<BackendInfo>({ op: 'init', backend: o.backend ?? 'auto', threads: o.tfThreads, nice: o.computeNice });
  log.info({ backend: backend.name }, 'compute worker ready');

  const held = new Map<string, Held>();
  const running = new Map<string, AbortController>();
  let current: WorkerRecord['job'];
  let busyMs = 0;
  let busySince = 0;
  let jobsDone = 0;
  const window: Array<{ at: number; ms: number }> = [];

  await sub.subscribe(keys.cancel);
  sub.on('message', (_ch: string, jobId: string) => running.get(jobId)?.abort());

  const heartbeat = async () => {
    const now = Date.now();
    while (window.length && window[0].at < now - 60_000) window.shift();
    const recent = window.reduce((a, w) => a + w.ms, 0) + (busySince ? now - busySince : 0);
    const rec: WorkerRecord = {
      workerId,
      host: hostname(),
      pid: process.pid,
      backend: backend.name,
      load: Math.min(1, recent / 60_000),
      jobsDone,
      ...(current ? { job: current } : {}),
      seen: now,
    };
    await redis.hset(keys.workers, workerId, JSON.stringify(rec));
  };
  await heartbeat();
  const beat = setInterval(() => void heartbeat().catch(() => undefined), CLUSTER_DEFAULTS.heartbeatMs);

  const publish = (m: Omit<ClusterMessage, 'workerId'>) => redis.publish(keys.events, JSON.stringify({ ...m, workerId }));

  /** The session's meta, images and labels as the store has them now (labels the front acknowledged). */
  function readSession(sessionId: string): Session {
    const s = new Session(store.readSessionMeta<SessionMeta>(sessionId), store);
    s.load();
    return s;
  }

  /** Load (or refresh) the session in the compute thread: the latest weights, and labels at their latest generation. */
  async function ensureLoaded(sessionId: string, imageId?: string): Promise<Held> {
    const r = await redis.hgetall(keys.session(sessionId));
    let h = held.get(sessionId);
    const meta = store.readSessionMeta<SessionMeta>(sessionId);
    const weights = r.weights ?? (meta.modelVersion ? `disk-${meta.modelVersion}` : 'fresh');
    // The labels this worker holds are current when the front's generation is the one it read (no journal replay).
    if (
      h &&
      h.weights === weights &&
      r.generation !== undefined &&
      Number(r.generation) === h.session.generation &&
      (imageId === undefined || h.imageGenerations.has(imageId))
    ) {
      Object.assign(h.session.meta, { trainOptions: meta.trainOptions, starter: meta.starter, autoBackground: meta.autoBackground });
      h.lastUsed = Date.now();
      return h;
    }
    const session = readSession(sessionId);
    if (h && h.weights === weights && h.session.meta.family === session.meta.family) {
      // Same weights: bring new images and changed labels (keeps the optimizer state of the thread).
      for (const im of session.images.values()) {
        const had = h.imageGenerations.get(im.meta.imageId);
        if (had === im.generation) continue;
        const image = await workerImage(session, im.meta.imageId);
        if (had === undefined) await compute.call({ op: 'addImage', sessionId, image }, { transfer: transfers(image) });
        else
          await compute.call(
            {
              op: 'labels',
              sessionId,
              imageId: image.imageId,
              origin: im.layer.shape.map(() => 0),
              shape: im.layer.shape,
              patch: image.labels,
              corrections: image.corrections,
            },
            { transfer: [image.labels.buffer as ArrayBuffer, image.corrections.buffer as ArrayBuffer] },
          );
        h.imageGenerations.set(im.meta.imageId, im.generation);
      }
      h.session = session;
      h.lastUsed = Date.now();
      return h;
    }
    if (h) await compute.call({ op: 'unload', sessionId });
    held.delete(sessionId);
    await evict();
    const images: WorkerImage[] = [];
    for (const im of session.images.values()) images.push(await workerImage(session, im.meta.imageId));
    const archive = weights.startsWith('fresh') ? starterArchive(session) : store.readCheckpoint(sessionId);
    await compute.call(
      {
        op: 'load',
        sessionId,
        family: session.meta.family,
        config: session.meta.config,
        archive,
        images,
        autoBackground: session.meta.autoBackground === true,
      },
      { transfer: images.flatMap(transfers) },
    );
    h = { session, weights, imageGenerations: new Map([...session.images.values()].map((im) => [im.meta.imageId, im.generation])), lastUsed: Date.now() };
    held.set(sessionId, h);
    return h;
  }

  function starterArchive(s: Session): Uint8Array | undefined {
    if (s.meta.starter === undefined) return undefined;
    const e = starters.find(s.meta.starter, s.meta.family);
    if (!e) throw new WorkerError(`the ${s.meta.family} starter model "${s.meta.starter}" is not installed on worker ${workerId}`, 'InvalidModel');
    return starters.read(e);
  }

  /** Keep at most maxLoadedPerWorker sessions in the thread (least recently used goes; its checkpoint is on disk). */
  async function evict(): Promise<void> {
    while (held.size >= SERVICE_DEFAULTS.maxLoadedPerWorker) {
      const [id] = [...held.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      held.delete(id);
      await compute.call({ op: 'unload', sessionId: id });
    }
  }

  /**
   * End a training job: its last progress report and job.finished reach the front, then the state is stored. The end
   * is published before the state is stored: a worker killed in between leaves the job 'running', so the slice
   * re-runs, finds it due and ends it again (at least once), instead of a stored end nobody heard of.
   */
  async function endJob(job: ClusterJob, sessionId: string, state: ClusterJob['state'], error?: string): Promise<void> {
    const steps = job.live ? 0 : job.steps >= 1e9 ? job.step : job.steps;
    const j = { jobId: job.jobId, state, step: job.step, steps, ...(job.loss !== undefined ? { loss: job.loss } : {}), ...(error ? { error } : {}) };
    await publish({
      sessionId,
      job: j,
      progress: {
        token: job.jobId,
        kind: 'end',
        step: job.step,
        steps,
        ...(job.loss !== undefined ? { loss: job.loss } : {}),
        state,
        ...(error ? { error } : {}),
      },
    });
    await publish({ sessionId, event: { type: 'job.finished', sessionId, jobId: job.jobId, state } });
    await redis.hset(keys.job(job.jobId), { state, ...(error ? { error } : {}) });
    log.info({ sessionId, jobId: job.jobId, state, step: job.step }, 'training job ended');
  }

  /**
   * One slice, and never a silent end of the chain: a slice that throws (a disk or Redis error) ends its job as
   * failed with the message, because no next slice would be queued and the client would wait for an end forever.
   */
  async function trainSlice(t: Extract<ClusterTask, { kind: 'train' }>): Promise<void> {
    try {
      await trainSliceBody(t);
    } catch (e) {
      const job = readJob(await redis.hgetall(keys.job(t.jobId)));
      log.error({ sessionId: t.sessionId, jobId: t.jobId, err: (e as Error).message }, 'a training slice failed');
      if (job && job.state === 'running') await endJob(job, t.sessionId, 'failed', `training slice ${t.slice} failed: ${(e as Error).message}`);
    }
  }

  async function trainSliceBody(t: Extract<ClusterTask, { kind: 'train' }>): Promise<void> {
    const jk = keys.job(t.jobId);
    const job = readJob(await redis.hgetall(jk));
    if (!job || job.state !== 'running') return;
    const sessionId = t.sessionId;
    const finish = (state: ClusterJob['state'], error?: string) => endJob(job, sessionId, state, error);
    const elapsedS = (Date.now() - job.startedAt) / 1000;
    if (job.cancel) return finish('cancelled');
    if (jobDue(job, job.step, elapsedS)) return finish('done');
    if (job.live && (Date.now() - job.lastActivity) / 1000 > SERVICE_DEFAULTS.liveIdleS) return finish('done');
    let h: Held;
    try {
      h = await ensureLoaded(sessionId);
    } catch (e) {
      return finish('failed', (e as Error).message);
    }
    const meta = h.session.meta;
    const options = { ...(meta.trainOptions as LiveTrainOptions | undefined) };
    const opts = sliceOptions(job, meta.starter !== undefined, options, SERVICE_DEFAULTS.liveOptions, job.step, elapsedS);
    const abort = new AbortController();
    running.set(job.jobId, abort);
    let r: TrainSliceResult;
    const generation = h.session.generation;
    const sess = await redis.hgetall(keys.session(sessionId));
    const view = sess.view ? (JSON.parse(sess.view) as { imageId: string; region: [number, number, number, number]; z: number }) : undefined;
    try {
      r = await compute.call<TrainSliceResult>(
        {
          op: 'train',
          sessionId,
          steps: job.live ? 1_000_000 : job.steps - job.step,
          maxMs: job.live ? liveSliceMs : sliceMs,
          options: opts,
          jobStep: job.step,
        },
        { signal: abort.signal },
      );
    } catch (e) {
      running.delete(job.jobId);
      return finish('failed', (e as Error).message);
    } finally {
      running.delete(job.jobId);
    }
    if (!r.hasData) {
      if (!job.live) return finish('failed', 'no labeled pixels to train on');
      await next(t, CLUSTER_DEFAULTS.liveRetryMs);
      return;
    }
    if (r.steps > 0) {
      const modelVersion = Number(sess.modelVersion ?? meta.modelVersion ?? 0) + 1;
      const bytes = await compute.call<Uint8Array>({ op: 'export', sessionId, modelVersion });
      await store.writeCheckpoint(sessionId, bytes);
      h.weights = `${workerId}-${modelVersion}-${randomBytes(3).toString('hex')}`;
      job.step += r.steps;
      job.loss = r.loss;
      await redis.hset(keys.session(sessionId), { weights: h.weights, modelVersion: String(modelVersion), trainedGeneration: String(generation) });
      await redis.hset(jk, { step: String(job.step), loss: String(r.loss), workerId });
      const elapsed = (Date.now() - job.startedAt) / 1000;
      const stepsPerS = (job.step - job.startStep) / Math.max(elapsed, 1e-3);
      const steps = job.live ? 0 : job.steps;
      await publish({
        sessionId,
        job: { jobId: job.jobId, state: 'running', step: job.step, steps, loss: r.loss },
        progress: { token: job.jobId, kind: 'report', step: job.step, loss: r.loss, stepsPerS, ...jobProgress(job, job.step, elapsed, stepsPerS) },
        model: { modelVersion, trainedGeneration: generation },
        event: { type: 'model.updated', sessionId, modelVersion, generation },
      });
      // Live: push the view after a label update or a view change, else every pushEverySteps steps or pushEveryS s.
      const pushKey = `${generation}:${sess.view ?? ''}`;
      const everySteps = options.pushEverySteps ?? SERVICE_DEFAULTS.livePushSteps;
      const everyMs = 1000 * (options.pushEveryS ?? SERVICE_DEFAULTS.livePushS);
      const due = pushKey !== job.pushKey || job.step - job.pushStep >= everySteps || Date.now() - job.pushAt >= everyMs;
      if (job.live && view && due) {
        await redis.hset(jk, { pushKey, pushStep: String(job.step), pushAt: String(Date.now()) });
        try {
          const pred = await predictNow(
            h,
            { sessionId, imageId: view.imageId, z: view.z, region: view.region },
            SERVICE_DEFAULTS.livePushContext,
            modelVersion,
            generation,
          );
          await publish({
            sessionId,
            event: {
              type: 'prediction.updated',
              sessionId,
              imageId: view.imageId,
              region: view.region,
              z: view.z,
              generation,
              modelVersion,
              labels: pred.labels,
              polygons: pred.polygons,
            },
          });
        } catch (e) {
          log.warn({ sessionId, err: (e as Error).message }, 'live prediction failed');
        }
      }
    }
    if (r.cancelled) return finish('cancelled');
    if (jobDue(job, job.step, (Date.now() - job.startedAt) / 1000)) return finish('done');
    await next(t, 0);
  }

  /** Queue the slice after t (a fixed job id: a slice re-run after a crash does not queue a second one). */
  async function next(t: Extract<ClusterTask, { kind: 'train' }>, delay: number): Promise<void> {
    const n: ClusterTask = { ...t, slice: t.slice + 1 };
    await queue.add('train', n, { jobId: `${t.jobId}.${n.slice}`, priority: 1, delay, removeOnComplete: true, removeOnFail: 100 });
  }

  async function predictNow(h: Held, t: PredictTask, context: number | undefined, modelVersion: number, generation: number): Promise<PredictionResult> {
    const r = await compute.call<PredictResult>({
      op: 'predict',
      sessionId: t.sessionId,
      imageId: t.imageId,
      z: t.z,
      region: t.region,
      probThresh: t.probThresh,
      nmsThresh: t.nmsThresh,
      context,
      maxObjects: t.maxObjects ?? o.maxObjects ?? 10_000,
    });
    h.lastUsed = Date.now();
    return {
      labels: r.labels,
      polygons: r.polygons,
      modelVersion,
      generation,
      region: t.region,
      z: t.z,
      ...(r.truncated ? { truncated: true } : {}),
    };
  }

  async function run(job: Job<ClusterTask>): Promise<unknown> {
    const t = job.data;
    current = { kind: t.kind, sessionId: t.sessionId, ...(t.kind === 'train' ? { jobId: t.jobId } : {}) };
    busySince = Date.now();
    const jl = log.child({ sessionId: t.sessionId, task: t.kind, queueJob: job.id });
    jl.debug('task started');
    try {
      if (t.kind === 'train') return await trainSlice(t);
      const h = await ensureLoaded(t.sessionId, t.kind === 'predict' || t.kind === 'suggest' ? t.imageId : undefined);
      const sess = await redis.hgetall(keys.session(t.sessionId));
      const modelVersion = Number(sess.modelVersion ?? h.session.meta.modelVersion ?? 0);
      const generation = Number(sess.trainedGeneration ?? h.session.meta.trainedGeneration ?? 0);
      if (t.kind === 'predict') return await predictNow(h, t, undefined, modelVersion, generation);
      if (t.kind === 'suggest') {
        const { kind: _kind, ...req } = t;
        const r = await compute.call<SuggestResult>({ op: 'suggest', ...req });
        h.lastUsed = Date.now();
        const axes = h.session.image(t.imageId).meta.axes;
        return suggestionsResult(r, { imageId: t.imageId, z: t.z, region: t.region, planes: axes === 'ZYX' || axes === 'TYX', modelVersion, generation });
      }
      if (t.kind === 'export') {
        const bytes = await compute.call<Uint8Array>({ op: 'export', sessionId: t.sessionId, modelVersion });
        return { model: Buffer.from(bytes).toString('base64'), modelVersion };
      }
      const spec = await compute.call<{ family: string; config: Record<string, unknown>; modelVersion: number; archive?: Uint8Array }>({
        op: 'import',
        sessionId: t.sessionId,
        archive: new Uint8Array(Buffer.from(t.archive, 'base64')),
        format: t.format,
        maxBytes: t.maxBytes,
      });
      const archive = spec.archive ?? new Uint8Array(Buffer.from(t.archive, 'base64'));
      await store.writeCheckpoint(t.sessionId, archive);
      h.weights = `${workerId}-import-${randomBytes(3).toString('hex')}`;
      await redis.hset(keys.session(t.sessionId), { weights: h.weights });
      return { family: spec.family, config: spec.config, modelVersion: spec.modelVersion };
    } catch (e) {
      // An application error travels to the front with its code (the job fails once: no retry).
      if (e instanceof WorkerError && e.code) throw new Error(JSON.stringify({ code: e.code, message: e.message }));
      throw e;
    } finally {
      const ms = Date.now() - busySince;
      busyMs += ms;
      window.push({ at: Date.now(), ms });
      busySince = 0;
      current = undefined;
      jobsDone++;
      jl.debug({ ms }, 'task finished');
    }
  }

  const worker = new Worker<ClusterTask>(CLUSTER_DEFAULTS.queue, run, {
    connection: workerConn,
    prefix: o.prefix,
    concurrency: 1,
    lockDuration: o.lockMs ?? CLUSTER_DEFAULTS.lockMs,
    stalledInterval: o.stalledMs ?? CLUSTER_DEFAULTS.stalledMs,
    maxStalledCount: 100,
  });
  worker.on('error', (e) => log.warn({ err: e.message }, 'queue'));
  worker.on('stalled', (id) => log.warn({ queueJob: id }, 'a stalled task (its worker died) goes to another worker'));

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      clearInterval(beat);
      await worker.close().catch(() => undefined);
      await redis.hdel(keys.workers, workerId).catch(() => undefined);
      await queue.close().catch(() => undefined);
      for (const c of [redis, sub, queueConn, workerConn]) c.disconnect();
      if (!dead) await compute.terminate();
      await store.closeJournals();
      log.info({ busyMs, jobsDone }, 'compute worker left');
    })();
    return closing;
  }
  return { workerId, backend, close };
}

async function workerImage(s: Session, imageId: string): Promise<WorkerImage> {
  const im = s.image(imageId);
  const pixels = (await s.pixels(imageId)).slice();
  return {
    imageId,
    pixels,
    shape: im.meta.shape,
    axes: im.meta.axes,
    dtype: im.meta.dtype,
    labels: im.layer.labels.slice(),
    corrections: im.layer.corrections.slice(),
  };
}

function transfers(im: WorkerImage): ArrayBuffer[] {
  return [im.pixels.buffer as ArrayBuffer, im.labels.buffer as ArrayBuffer, im.corrections.buffer as ArrayBuffer];
}
