/**
 * The model service (main thread): jobs, scheduling and persistence around compute workers.
 *
 * - Each session is pinned to one compute worker (worker threads, each with its own tensor backend), where
 *   its model, normalised images and a copy of its sparse labels live. Label updates are forwarded as they are
 *   acknowledged; the worker never sees a label the store has not made durable.
 * - A Lane per worker runs urgent work (predict, label sync, export/import) before training slices, and gives
 *   training jobs round-robin slices of at most SLICE_MS, so several sessions train fairly and a prediction
 *   waits at most one slice.
 * - Checkpoints go to the store (storage/ is the only disk code) every CHECKPOINT_S and when a job ends.
 * - Live jobs keep training as labels change and push prediction.updated for the session's view.
 */
import { EventEmitter } from 'node:events';
import { RpcError, invalidParams } from '../errors.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { ActiveJob, Session } from '../sessions/session.js';
import { spatialShape } from '../sessions/session.js';
import type { BackendInfo, ModelService } from '../sessions/model-service.js';
import type { JobInfo } from '../../protocol/src/types.js';
import type { ParamsOf, PredictionResult, ResultOf } from '../../protocol/src/methods.js';
import type { EventParams, ProgressParams } from '../../protocol/src/progress.js';
import { ComputeWorker, WorkerError } from './compute-worker.js';
import type { ExportMetadata, TrainingSummary } from '../bioimageio/package.js';
import { packageVersion } from '../storage/package-info.js';
import type { Image2D, Labels2D } from '../imaging/types.js';
import { Lane, type Trainer } from './lane.js';
import { RECIPE } from '../recipe.js';
import {
  assertLabeled,
  jobDue,
  jobLength,
  jobProgress,
  noModelError,
  predictTarget,
  sliceOptions,
  suggestionsResult,
  suggestTarget,
  weightsChange,
  liveSuggestDue,
} from './job-rules.js';
import { UNBOUNDED_STEPS } from './config.js';
import type { LiveTrainOptions, PredictResult, SuggestResult, TrainSliceResult, WorkerImage } from './worker-protocol.js';

/** Scheduling and live-mode constants (see ARCHITECTURE.md "Training and scheduling"). */
export const SERVICE_DEFAULTS = {
  sliceMs: 400,
  checkpointS: 30,
  /** Live: push a refreshed prediction after this many steps or seconds, and after each label update. */
  livePushSteps: 20,
  livePushS: 5,
  /** Live: stop after this long without label updates or view changes. */
  liveIdleS: 1800,
  /** Live defaults (small patches keep edit -> prediction latency low on a CPU). */
  liveOptions: { ...RECIPE.live } as LiveTrainOptions,
  /** Live pushes predict the view with this much context (px) around it (full predictions use the U-Net's). */
  livePushContext: 16,
  /** Live: suggestions.updated follows a prediction push at most once per this many seconds (0 = never). */
  liveSuggestS: 10,
  maxJobsKept: 20,
  /** Models (with their images) a compute worker keeps in memory; beyond this the least recently used idle one
   * is checkpointed and unloaded (it reloads from its checkpoint on next use). */
  maxLoadedPerWorker: 8,
};

interface SessionCompute {
  session: Session;
  lane: Lane;
  worker: ComputeWorker;
  loaded: boolean;
  syncedGeneration: number;
  trainedGeneration: number;
  modelVersion: number;
  /** Steps since the last checkpoint. */
  dirty: boolean;
  options: LiveTrainOptions;
  job?: TrainJob;
  detach: () => void;
  /** Images the worker holds (images added later are sent with their labels on first label sync). */
  syncedImages?: Set<string>;
  lastUsed: number;
  /** A model.train is between its busy check and its job start. */
  starting?: boolean;
}

class TrainJob implements Trainer {
  readonly info: JobInfo;
  readonly cancelFlag = new AbortController();
  readonly startedAt = Date.now();
  lastCheckpoint = Date.now();
  lastPush = 0;
  lastSuggest = 0;
  stepsSincePush = 0;
  pushWanted = false;
  lastActivity = Date.now();
  finished?: Promise<void>;
  private finish!: () => void;
  lossEma?: number;
  /** Step a resumed job started from (0 otherwise). */
  startStep = 0;

  constructor(
    readonly svc: ModelServiceImpl,
    readonly sc: SessionCompute,
    readonly jobId: string,
    readonly steps: number,
    readonly timeLimitS: number | undefined,
    readonly live: boolean,
  ) {
    this.info = { jobId, kind: 'train', state: 'running', live, step: 0, steps: live || steps >= UNBOUNDED_STEPS ? 0 : steps };
    this.finished = new Promise((r) => (this.finish = r));
  }

  slice(): Promise<boolean> {
    return this.svc.runSlice(this);
  }

  end(state: 'done' | 'cancelled' | 'failed', error?: string): void {
    if (this.info.state !== 'running') return;
    this.info.state = state;
    if (error) this.info.error = error;
    this.finish();
  }
}

class ModelServiceImpl extends EventEmitter implements ModelService {
  private readonly workers: ComputeWorker[] = [];
  private readonly spawning = new Set<ComputeWorker>();
  private readonly lanes: Lane[] = [];
  private readonly computes = new Map<string, SessionCompute>();
  private readonly jobs = new Map<string, TrainJob>();
  private backend: BackendInfo = { name: 'none' };
  private ready?: Promise<void>;
  private nextJob = 1;
  private nextWorker = 0;
  private stopping = false;

  constructor(
    private readonly sessions: SessionManager,
    private readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    super();
    sessions.on('closing', (s: Session) => void this.closeSession(s));
  }

  backendInfo(): BackendInfo {
    return this.backend;
  }

  async startCompute(): Promise<BackendInfo> {
    await this.start();
    return this.backend;
  }

  /** Start the workers lazily, on first model use (keeps daemon start fast and tests without models light). */
  private start(): Promise<void> {
    if (!this.ready) {
      this.ready = (async () => {
        const n = Math.max(1, this.config.computeWorkers);
        for (let i = 0; i < n; i++) {
          this.lanes.push(new Lane((e) => this.log.error({ err: e }, 'compute task failed')));
          this.workers.push(await this.spawnWorker(i));
        }
        this.log.info({ backend: this.backend }, 'compute workers ready');
      })();
    }
    return this.ready;
  }

  /** A compute worker for slot i; if it dies (e.g. out of wasm memory), its jobs fail and a fresh one replaces it. */
  private async spawnWorker(i: number): Promise<ComputeWorker> {
    const w = new ComputeWorker((e) => {
      if (this.stopping) return;
      this.log.error({ err: e.message, worker: i }, 'compute worker died; starting a new one');
      for (const sc of this.computes.values()) {
        if (sc.worker !== w) continue;
        sc.loaded = false;
        sc.syncedImages = undefined;
        // Steps since the last checkpoint are lost with the worker: fall back to what is on disk.
        sc.modelVersion = sc.session.meta.modelVersion ?? 0;
        sc.trainedGeneration = sc.session.meta.trainedGeneration ?? 0;
        sc.dirty = false;
        sc.job?.end('failed', `compute worker died: ${e.message}`);
      }
      this.workers[i] = undefined as never;
      void this.spawnWorker(i).then(
        (nw) => {
          this.workers[i] = nw;
          for (const sc of this.computes.values()) if (sc.worker === w) sc.worker = nw;
        },
        (err) => this.log.error({ err }, 'could not restart the compute worker'),
      );
    });
    // Until init answers, only this set knows the worker: shutdown (e.g. SIGTERM during start-up) ends it too.
    this.spawning.add(w);
    try {
      this.backend = await w.call<BackendInfo>({ op: 'init', backend: this.config.backend, threads: this.config.tfThreads, nice: this.config.computeNice });
    } catch (e) {
      await w.terminate(); // e.g. an explicit backend that is not available: no idle thread keeps the daemon alive
      throw e;
    } finally {
      this.spawning.delete(w);
    }
    if (this.stopping) {
      await w.terminate();
      throw new Error('shutting down');
    }
    if (this.backend.fallback)
      this.log.warn({ backend: this.backend.name, reason: this.backend.fallback }, `native backend not used: ${this.backend.fallback}`);
    return w;
  }

  private async compute(session: Session): Promise<SessionCompute> {
    await this.start();
    let sc = this.computes.get(session.id);
    if (sc && sc.session === session) return sc;
    const i = this.nextWorker++ % this.workers.length;
    const onLabels = (e: { imageId: string; origin: number[]; shape: number[] }) => this.forwardLabels(sc!, e);
    session.on('labels', onLabels);
    sc = {
      session,
      lane: this.lanes[i],
      worker: this.workers[i],
      loaded: false,
      syncedGeneration: 0,
      trainedGeneration: session.meta.trainedGeneration ?? 0,
      modelVersion: session.meta.modelVersion ?? 0,
      dirty: false,
      options: { ...(session.meta.trainOptions as LiveTrainOptions | undefined) },
      lastUsed: Date.now(),
      detach: () => session.off('labels', onLabels),
    };
    this.computes.set(session.id, sc);
    return sc;
  }

  /** Load the session's model and data into its worker (urgent-lane context only). */
  private async ensureLoaded(sc: SessionCompute): Promise<void> {
    sc.lastUsed = Date.now();
    if (sc.loaded) return;
    await this.evictFor(sc);
    const s = sc.session;
    const images: WorkerImage[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const im of s.images.values()) {
      const pixels = (await s.pixels(im.meta.imageId)).slice();
      const labels = im.layer.labels.slice();
      const corrections = im.layer.corrections.slice();
      images.push({ imageId: im.meta.imageId, pixels, shape: im.meta.shape, axes: im.meta.axes, dtype: im.meta.dtype, labels, corrections });
      transfer.push(pixels.buffer as ArrayBuffer, labels.buffer as ArrayBuffer, corrections.buffer as ArrayBuffer);
    }
    // The checkpoint once there is one; before that, the session's starter model (zero-shot); else fresh weights.
    const archive = s.meta.modelVersion ? this.sessions.store.readCheckpoint(s.id) : s.meta.starter !== undefined ? this.starterArchive(s) : undefined;
    sc.syncedGeneration = s.generation;
    const loaded = await sc.worker
      .call<{ family: string; adaptation?: { scale: number; invert: boolean } }>(
        { op: 'load', sessionId: s.id, family: s.meta.family, config: s.meta.config, archive, images, autoBackground: s.meta.autoBackground === true },
        { transfer },
      )
      .catch((e: unknown) => {
        if (archive && e instanceof WorkerError && e.code === 'InvalidModel') {
          throw new RpcError(
            'StorageCorrupt',
            `the model checkpoint of session ${s.id} is damaged (${e.message}); start again with model.train {reset: true} or load one with model.import`,
            [{ path: '/sessionId', message: 'damaged checkpoint' }],
          );
        }
        return mapWorkerError(e);
      });
    sc.syncedImages = new Set(images.map((i) => i.imageId));
    sc.loaded = true;
    // The model is the truth: a daemon that stopped after choosing an adaptation but before the checkpoint that
    // carries it restores a model without one (it adapts again at its next training).
    if (JSON.stringify(loaded.adaptation) !== JSON.stringify(s.meta.adaptation)) await s.updateMeta({ adaptation: loaded.adaptation });
  }

  /** The archive of the session's starter model (checked against its card's sha256). */
  private starterArchive(s: Session): Uint8Array {
    const e = this.sessions.starters.find(s.meta.starter!, s.meta.family);
    if (!e)
      throw new RpcError(
        'InvalidModel',
        `session ${s.id} began from the ${s.meta.family} starter model "${s.meta.starter}", which is not installed in ${this.sessions.starters.dir}`,
      );
    try {
      return this.sessions.starters.read(e);
    } catch (err) {
      throw new RpcError('InvalidModel', (err as Error).message);
    }
  }

  /** True when the session has a model to predict with: trained, imported, or a starter (zero-shot). */
  private hasModel(sc: SessionCompute): boolean {
    return sc.modelVersion > 0 || sc.session.meta.starter !== undefined;
  }

  /** Make room on sc's worker: checkpoint and unload least recently used sessions without a running job. */
  private async evictFor(sc: SessionCompute): Promise<void> {
    const same = [...this.computes.values()].filter((o) => o !== sc && o.worker === sc.worker && o.loaded);
    const idle = same.filter((o) => !(o.job && o.job.info.state === 'running')).sort((a, b) => a.lastUsed - b.lastUsed);
    while (same.length >= SERVICE_DEFAULTS.maxLoadedPerWorker && idle.length) {
      const victim = idle.shift()!;
      await this.checkpoint(victim);
      await victim.worker.call({ op: 'unload', sessionId: victim.session.id });
      victim.loaded = false;
      victim.syncedImages = undefined;
      same.splice(same.indexOf(victim), 1);
      this.log.info({ sessionId: victim.session.id }, 'model unloaded from memory (least recently used)');
    }
  }

  /** Send an image added after the worker loaded the session (with its current labels); urgent-lane only. */
  private async ensureImage(sc: SessionCompute, imageId: string): Promise<boolean> {
    if (sc.syncedImages?.has(imageId)) return false;
    const s = sc.session;
    const im = s.image(imageId);
    const pixels = (await s.pixels(imageId)).slice();
    const labels = im.layer.labels.slice();
    const corrections = im.layer.corrections.slice();
    await sc.worker.call(
      { op: 'addImage', sessionId: s.id, image: { imageId, pixels, shape: im.meta.shape, axes: im.meta.axes, dtype: im.meta.dtype, labels, corrections } },
      { transfer: [pixels.buffer as ArrayBuffer, labels.buffer as ArrayBuffer, corrections.buffer as ArrayBuffer] },
    );
    sc.syncedImages?.add(imageId);
    return true;
  }

  private forwardLabels(sc: SessionCompute, e: { imageId: string; origin: number[]; shape: number[] }): void {
    const s = sc.session;
    void sc.lane.runUrgent(async () => {
      if (!sc.loaded) return; // a later load copies the current labels
      const im = s.images.get(e.imageId);
      if (!im) return;
      if (!(await this.ensureImage(sc, e.imageId))) {
        const { patch, corrections } = copyRegion(im.layer.labels, im.layer.corrections, im.layer.shape, e.origin, e.shape);
        await sc.worker.call(
          { op: 'labels', sessionId: s.id, imageId: e.imageId, origin: e.origin, shape: e.shape, patch, corrections },
          { transfer: [patch.buffer as ArrayBuffer, corrections.buffer as ArrayBuffer] },
        );
      }
      sc.syncedGeneration = s.generation;
      const job = sc.job;
      if (job && job.live) {
        job.pushWanted = true;
        job.lastActivity = Date.now();
        sc.lane.wakeTrainer(job);
      }
    });
  }

  async train(session: Session, p: ParamsOf<'model.train'>): Promise<{ jobId: string; resumedFrom?: number }> {
    const sc = await this.compute(session);
    if (sc.starting || (sc.job && sc.job.info.state === 'running')) {
      throw new RpcError(
        'SessionBusy',
        `session ${session.id} is already training (job ${sc.job?.jobId ?? 'starting'}); cancel it first or use model.configure`,
        [{ path: '/sessionId', message: 'busy' }],
      );
    }
    const interrupted = session.meta.activeJob;
    if (p.resume) {
      if (!interrupted)
        throw new RpcError('JobNotFound', `session ${session.id} has no interrupted training job to resume`, [
          { path: '/resume', message: 'nothing to resume' },
        ]);
      if (p.reset || p.family !== undefined || p.config !== undefined || p.live !== undefined) {
        throw invalidParams([
          { path: '/resume', message: 'resume continues the interrupted job as it was: reset, family, config and live cannot be given with it' },
        ]);
      }
    }
    const live = p.resume ? interrupted!.live : p.live === true;
    if (!live) assertLabeled(session);
    sc.starting = true;
    try {
      return await this.startJob(sc, session, p, live, p.resume ? interrupted : undefined);
    } finally {
      sc.starting = false;
    }
  }

  private async startJob(
    sc: SessionCompute,
    session: Session,
    p: ParamsOf<'model.train'>,
    live: boolean,
    resume?: ActiveJob,
  ): Promise<{ jobId: string; resumedFrom?: number }> {
    const change = weightsChange(session, p, this.sessions.starters);
    if (change?.from === 'starter') {
      await session.updateMeta({ family: change.family, config: {}, starter: change.starter, adaptation: undefined, modelVersion: 0, trainedGeneration: 0 });
      await sc.lane.runUrgent(async () => {
        if (sc.loaded) await sc.worker.call({ op: 'unload', sessionId: session.id });
        sc.loaded = false;
        sc.syncedImages = undefined;
      });
      sc.modelVersion = 0;
      sc.trainedGeneration = 0;
      sc.dirty = false;
    } else if (change) {
      await session.updateMeta({ family: p.family ?? session.meta.family, config: p.config ?? session.meta.config, starter: undefined, adaptation: undefined });
      await sc.lane.runUrgent(async () => {
        if (sc.loaded)
          await sc.worker.call({ op: 'reset', sessionId: session.id, family: session.meta.family, config: session.meta.config }).catch(mapWorkerError);
      });
      sc.modelVersion = 0;
      sc.trainedGeneration = 0;
      await session.updateMeta({ modelVersion: 0, trainedGeneration: 0 });
    }
    if (p.options) {
      sc.options = { ...sc.options, ...p.options };
      await session.updateMeta({ trainOptions: sc.options as Record<string, unknown> });
    }
    // Validate the family config early, in the worker, with a clear error.
    await sc.lane.runUrgent(() => this.ensureLoaded(sc)).catch(mapWorkerError);
    const jobId = `job${Date.now().toString(36)}${this.nextJob++}`;
    const { fromStep, steps, timeLimitS } = jobLength(p, resume);
    const job = new TrainJob(this, sc, jobId, steps, timeLimitS, live);
    job.info.step = fromStep;
    job.startStep = fromStep;
    await session.updateMeta({ activeJob: { jobId, steps: job.info.steps ?? 0, live, step: fromStep, ...(timeLimitS !== undefined ? { timeLimitS } : {}) } });
    sc.job = job;
    this.jobs.set(jobId, job);
    for (const [id, j] of this.jobs) if (this.jobs.size > 1000 && j.info.state !== 'running') this.jobs.delete(id);
    session.jobs.push(job.info);
    if (session.jobs.length > SERVICE_DEFAULTS.maxJobsKept) session.jobs.splice(0, session.jobs.length - SERVICE_DEFAULTS.maxJobsKept);
    this.emitProgress(session.id, {
      token: jobId,
      kind: 'begin',
      title: `${live ? 'live ' : ''}train ${session.meta.family}`,
      step: 0,
      steps: job.info.steps ?? 0,
    });
    sc.lane.addTrainer(job);
    void job.finished!.then(() => this.afterJob(job));
    return resume ? { jobId, resumedFrom: fromStep } : { jobId };
  }

  /** One training slice of a job (called by the lane). Returns false when there is nothing to do now. */
  async runSlice(job: TrainJob): Promise<boolean> {
    const sc = job.sc;
    if (job.info.state !== 'running') {
      sc.lane.removeTrainer(job);
      return false;
    }
    if (job.cancelFlag.signal.aborted) {
      job.end('cancelled');
      return false;
    }
    const elapsedS = (Date.now() - job.startedAt) / 1000;
    if (jobDue(job, job.info.step ?? 0, elapsedS)) {
      job.end('done');
      return false;
    }
    if (job.live && (Date.now() - job.lastActivity) / 1000 > SERVICE_DEFAULTS.liveIdleS) {
      job.end('done');
      return false;
    }
    const generationBefore = sc.syncedGeneration;
    const want = job.live ? 1_000_000 : job.steps - (job.info.step ?? 0);
    const fromStarter = sc.session.meta.starter !== undefined;
    const opts = sliceOptions(job, fromStarter, sc.options, SERVICE_DEFAULTS.liveOptions, job.info.step ?? 0, elapsedS);
    // Live from a starter: the first prediction.updated goes out at once (zero-shot, before any step).
    if (job.live && job.lastPush === 0 && fromStarter) await this.maybePush(job);
    const view = sc.session.view;
    let r: TrainSliceResult;
    try {
      r = await sc.worker.call<TrainSliceResult>(
        {
          op: 'train',
          sessionId: sc.session.id,
          steps: want,
          maxMs: job.live ? 0 : SERVICE_DEFAULTS.sliceMs,
          options: opts,
          jobStep: job.info.step ?? 0,
          adapt: fromStarter,
          ...(job.live && view && sc.session.images.get(view.imageId)?.layer.lastEdit
            ? {
                focus: {
                  imageId: view.imageId,
                  z: sc.session.images.get(view.imageId)!.layer.lastEdit!.z,
                  region: sc.session.images.get(view.imageId)!.layer.lastEdit!.region,
                },
              }
            : {}),
        },
        { signal: job.cancelFlag.signal },
      );
    } catch (e) {
      job.end('failed', (e as Error).message);
      return false;
    }
    if (r.adapted) {
      const { scale, invert, objects, ms } = r.adapted;
      this.log.info({ sessionId: sc.session.id, scale, invert, objects, ms }, 'starter adapted to the labeled images');
      await sc.session.updateMeta({ adaptation: { scale, invert } });
      sc.dirty = true;
      this.emitProgress(sc.session.id, { token: job.jobId, kind: 'report', step: job.info.step ?? 0, message: adaptationMessage(r.adapted) });
    }
    if (!r.hasData) {
      if (!job.live) job.end('failed', 'no labeled pixels to train on');
      return false; // live: sleep until labels arrive
    }
    if (r.steps > 0) {
      job.info.step = (job.info.step ?? 0) + r.steps;
      job.info.loss = r.loss;
      job.stepsSincePush += r.steps;
      sc.modelVersion++;
      sc.trainedGeneration = generationBefore;
      sc.dirty = true;
      const elapsed = (Date.now() - job.startedAt) / 1000;
      const stepsPerS = (job.info.step - job.startStep) / Math.max(elapsed, 1e-3);
      this.emitProgress(sc.session.id, {
        token: job.jobId,
        kind: 'report',
        step: job.info.step,
        loss: r.loss,
        stepsPerS,
        ...jobProgress(job, job.info.step, elapsed, stepsPerS),
      });
    }
    if (r.cancelled) {
      job.end('cancelled');
      return false;
    }
    if ((Date.now() - job.lastCheckpoint) / 1000 >= (this.config.checkpointS ?? SERVICE_DEFAULTS.checkpointS)) await this.checkpoint(sc);
    if (job.live) await this.maybePush(job);
    return true;
  }

  /** Whether a live session on this compute worker has an edit (or view change) that no push has shown yet. */
  private editsWaiting(worker: ComputeWorker): boolean {
    for (const c of this.computes.values()) if (c.worker === worker && c.job?.live && c.job.pushWanted) return true;
    return false;
  }

  private async maybePush(job: TrainJob): Promise<void> {
    const sc = job.sc;
    const view = sc.session.view;
    if (!view) return;
    const everySteps = sc.options.pushEverySteps ?? SERVICE_DEFAULTS.livePushSteps;
    const everyS = sc.options.pushEveryS ?? SERVICE_DEFAULTS.livePushS;
    const due = job.pushWanted || job.stepsSincePush >= everySteps || (Date.now() - job.lastPush) / 1000 >= everyS;
    if (!due) return;
    job.pushWanted = false;
    job.stepsSincePush = 0;
    job.lastPush = Date.now();
    try {
      const pred = await this.predictNow(sc, view.imageId, view.z, view.region, { context: SERVICE_DEFAULTS.livePushContext });
      const ev: EventParams = {
        type: 'prediction.updated',
        sessionId: sc.session.id,
        imageId: view.imageId,
        region: view.region,
        z: view.z,
        generation: pred.generation,
        modelVersion: pred.modelVersion,
        labels: pred.labels,
        polygons: pred.polygons,
      };
      this.emit('event', sc.session.id, ev);
    } catch (e) {
      this.log.warn({ sessionId: sc.session.id, err: (e as Error).message }, 'live prediction failed');
      return;
    }
    const suggestS = sc.options.suggestEveryS ?? SERVICE_DEFAULTS.liveSuggestS;
    if (liveSuggestDue((Date.now() - job.lastSuggest) / 1000, suggestS, () => this.editsWaiting(sc.worker))) {
      job.lastSuggest = Date.now();
      try {
        // the push's context, so the worker reuses the push's network pass
        const r = await this.suggestNow(sc, view.imageId, view.z, view.region, { context: SERVICE_DEFAULTS.livePushContext });
        this.emit('event', sc.session.id, {
          type: 'suggestions.updated',
          sessionId: sc.session.id,
          imageId: view.imageId,
          region: view.region,
          z: view.z,
          modelVersion: r.modelVersion,
          suggestions: r.suggestions,
        });
      } catch (e) {
        this.log.warn({ sessionId: sc.session.id, err: (e as Error).message }, 'live suggestions failed');
      }
    }
  }

  private async afterJob(job: TrainJob): Promise<void> {
    const sc = job.sc;
    // Ended (done, cancelled, failed): nothing to resume after a later crash. Queued before the session can close.
    if (sc.session.meta.activeJob?.jobId === job.jobId) {
      sc.session.updateMeta({ activeJob: undefined }).catch((e) => this.log.error({ err: e }, 'could not record the end of a job'));
    }
    sc.lane.removeTrainer(job);
    if (sc.dirty) await sc.lane.runUrgent(() => this.checkpoint(sc)).catch((e) => this.log.error({ err: e }, 'checkpoint failed'));
    this.emitProgress(sc.session.id, {
      token: job.jobId,
      kind: 'end',
      step: job.info.step ?? 0,
      steps: job.info.steps ?? 0,
      ...(job.info.loss !== undefined ? { loss: job.info.loss } : {}),
      state: job.info.state,
      ...(job.info.error ? { error: job.info.error } : {}),
    });
    this.emit('event', sc.session.id, { type: 'job.finished', sessionId: sc.session.id, jobId: job.jobId, state: job.info.state });
  }

  /** Persist the worker's current weights (worker call + durable write) and announce model.updated. */
  private async checkpoint(sc: SessionCompute): Promise<void> {
    if (!sc.loaded || !sc.dirty) return;
    const bytes = await sc.worker.call<Uint8Array>({ op: 'export', sessionId: sc.session.id, modelVersion: sc.modelVersion });
    await this.sessions.store.writeCheckpoint(sc.session.id, bytes);
    sc.dirty = false;
    const job = sc.job && sc.job.info.state === 'running' ? sc.job : undefined;
    if (sc.job) sc.job.lastCheckpoint = Date.now();
    // A running job records the step this checkpoint holds: after a crash, model.train {resume: true} goes on from it.
    await sc.session.updateMeta({
      modelVersion: sc.modelVersion,
      trainedGeneration: sc.trainedGeneration,
      ...(job && sc.session.meta.activeJob?.jobId === job.jobId ? { activeJob: { ...sc.session.meta.activeJob, step: job.info.step ?? 0 } } : {}),
    });
    this.emit('event', sc.session.id, { type: 'model.updated', sessionId: sc.session.id, modelVersion: sc.modelVersion, generation: sc.trainedGeneration });
  }

  async configure(session: Session, p: ParamsOf<'model.configure'>) {
    const sc = await this.compute(session);
    sc.options = { ...sc.options, ...p.options };
    await session.updateMeta({ trainOptions: sc.options as Record<string, unknown> });
    return { options: sc.options };
  }

  /** Queue a prediction on the session's lane (ahead of training slices). */
  private runPredict(sc: SessionCompute, imageId: string, z: number, region: [number, number, number, number], o: PredictOpts): Promise<PredictionResult> {
    return sc.lane.runUrgent(() => this.predictNow(sc, imageId, z, region, o));
  }

  /** Predict now; only call while holding the lane (from an urgent task or a training slice). */
  private async predictNow(
    sc: SessionCompute,
    imageId: string,
    z: number,
    region: [number, number, number, number],
    o: PredictOpts,
  ): Promise<PredictionResult> {
    await this.ensureLoaded(sc);
    await this.ensureImage(sc, imageId);
    const r = await sc.worker
      .call<PredictResult>(
        {
          op: 'predict',
          sessionId: sc.session.id,
          imageId,
          z,
          region,
          probThresh: o.probThresh,
          nmsThresh: o.nmsThresh,
          context: o.context,
          maxObjects: o.maxObjects ?? this.config.maxObjects,
        },
        { signal: o.signal, onProgress: o.onProgress },
      )
      .catch(mapWorkerError);
    return {
      labels: r.labels,
      polygons: r.polygons,
      modelVersion: sc.modelVersion,
      generation: sc.trainedGeneration,
      region,
      z,
      ...(r.truncated ? { truncated: true } : {}),
    };
  }

  async predict(
    session: Session,
    p: ParamsOf<'model.predict'>,
    ctx: { signal: AbortSignal; progress?: (p: ProgressParams) => void },
  ): Promise<PredictionResult> {
    const sc = await this.compute(session);
    if (!this.hasModel(sc)) throw noModelError(session.id);
    const { z, region } = predictTarget(session, p);
    ctx.progress?.({ token: '', kind: 'begin', title: 'predict', percentage: 0 });
    try {
      const res = await this.runPredict(sc, p.imageId, z, region, {
        probThresh: p.probThresh,
        nmsThresh: p.nmsThresh,
        maxObjects: p.maxObjects,
        signal: ctx.signal,
        onProgress: (q) =>
          ctx.progress?.({ token: '', kind: 'report', message: `tile ${q.tile}/${q.tiles}`, percentage: q.tiles ? (100 * (q.tile ?? 0)) / q.tiles : 0 }),
      });
      ctx.progress?.({ token: '', kind: 'end', state: 'done', percentage: 100 });
      return res;
    } catch (e) {
      ctx.progress?.({ token: '', kind: 'end', state: ctx.signal.aborted ? 'cancelled' : 'failed' });
      if (ctx.signal.aborted) throw new RpcError('RequestCancelled', 'prediction cancelled');
      throw e;
    }
  }

  /** Suggest now; only call while holding the lane (from an urgent task or a training slice). */
  private async suggestNow(
    sc: SessionCompute,
    imageId: string,
    z: number,
    region: [number, number, number, number],
    o: Pick<ParamsOf<'model.suggest'>, 'count' | 'probThresh' | 'nmsThresh' | 'tta' | 'reasons'> & { signal?: AbortSignal; context?: number },
  ): Promise<ResultOf<'model.suggest'>> {
    await this.ensureLoaded(sc);
    await this.ensureImage(sc, imageId);
    const r = await sc.worker
      .call<SuggestResult>(
        {
          op: 'suggest',
          sessionId: sc.session.id,
          imageId,
          z,
          region,
          count: o.count ?? 10,
          context: o.context,
          probThresh: o.probThresh,
          nmsThresh: o.nmsThresh,
          tta: o.tta,
          reasons: o.reasons,
        },
        { signal: o.signal },
      )
      .catch(mapWorkerError);
    const axes = sc.session.image(imageId).meta.axes;
    return suggestionsResult(r, {
      imageId,
      z,
      region,
      planes: axes === 'ZYX' || axes === 'TYX',
      modelVersion: sc.modelVersion,
      generation: sc.trainedGeneration,
    });
  }

  async suggest(session: Session, p: ParamsOf<'model.suggest'>, ctx: { signal: AbortSignal }): Promise<ResultOf<'model.suggest'>> {
    const sc = await this.compute(session);
    if (!this.hasModel(sc)) throw noModelError(session.id);
    const { imageId, z, region } = suggestTarget(session, p);
    try {
      return await sc.lane.runUrgent(() => this.suggestNow(sc, imageId, z, region, { ...p, signal: ctx.signal }));
    } catch (e) {
      if (ctx.signal.aborted) throw new RpcError('RequestCancelled', 'suggestion cancelled');
      throw e;
    }
  }

  async cancel(jobId: string): Promise<{ cancelled: boolean; state: string }> {
    const job = this.jobs.get(jobId);
    if (!job) throw new RpcError('JobNotFound', `no job "${jobId}"`, [{ path: '/jobId', message: 'unknown job' }]);
    if (job.info.state !== 'running') return { cancelled: false, state: job.info.state };
    job.cancelFlag.abort();
    job.sc.lane.wakeTrainer(job);
    await job.finished;
    return { cancelled: true, state: job.info.state };
  }

  async exportModel(session: Session, p: Omit<ParamsOf<'model.export'>, 'sessionId'> = {}) {
    const sc = await this.compute(session);
    if (!this.hasModel(sc)) throw new RpcError('ModelNotTrained', `session ${session.id} has no trained model to export`);
    if (p.format === 'bioimageio') {
      const test = await testPlane(session, p.imageId);
      const meta: ExportMetadata = {
        name: p.name,
        description: p.description,
        authors: p.authors,
        license: p.license,
        training: { ...trainingCounts(session), steps: 0, backend: this.backend.name, date: new Date().toISOString() },
        sparsecellVersion: packageVersion(),
      };
      const pkg = await sc.lane.runUrgent(async () => {
        await this.ensureLoaded(sc);
        return sc.worker.call<Uint8Array>({ op: 'bioimageio', sessionId: session.id, image: test.image, labels: test.labels, meta }).catch(mapWorkerError);
      });
      return {
        model: Buffer.from(pkg).toString('base64'),
        family: session.meta.family,
        modelVersion: sc.modelVersion,
        bytes: pkg.length,
        format: 'bioimageio' as const,
      };
    }
    // Through the worker, so a damaged checkpoint is reported (StorageCorrupt) instead of handed out.
    const bytes = await sc.lane.runUrgent(async () => {
      await this.ensureLoaded(sc);
      return sc.worker.call<Uint8Array>({ op: 'export', sessionId: session.id, modelVersion: sc.modelVersion });
    });
    if (!bytes) throw new RpcError('ModelNotTrained', `session ${session.id} has no checkpoint on disk`);
    return {
      model: Buffer.from(bytes).toString('base64'),
      family: session.meta.family,
      modelVersion: sc.modelVersion,
      bytes: bytes.length,
      format: 'sparsecell' as const,
    };
  }

  async importModel(session: Session, archive: Uint8Array, format: 'sparsecell' | 'bioimageio' = 'sparsecell') {
    const sc = await this.compute(session);
    if (sc.job && sc.job.info.state === 'running')
      throw new RpcError('SessionBusy', `session ${session.id} is training (job ${sc.job.jobId}); cancel it before importing a model`);
    const spec = await sc.lane.runUrgent(async () => {
      await this.ensureLoaded(sc);
      return sc.worker
        .call<{
          family: 'stardist' | 'cellpose' | 'elephant';
          config: Record<string, unknown>;
          modelVersion: number;
          adaptation?: { scale: number; invert: boolean };
          archive?: Uint8Array;
        }>({
          op: 'import',
          sessionId: session.id,
          archive,
          format,
          maxBytes: this.config.maxMessageBytes,
        })
        .catch(mapWorkerError);
    });
    await this.sessions.store.writeCheckpoint(session.id, spec.archive ?? archive);
    // Keep the model's lineage: its own version goes on (and never goes below what this session has shown).
    sc.modelVersion = Math.max(sc.modelVersion + 1, Number.isSafeInteger(spec.modelVersion) ? spec.modelVersion : 0);
    sc.dirty = false;
    await session.updateMeta({
      family: spec.family,
      config: spec.config,
      modelVersion: sc.modelVersion,
      trainedGeneration: sc.trainedGeneration,
      starter: undefined,
      adaptation: spec.adaptation,
    });
    this.emit('event', session.id, { type: 'model.updated', sessionId: session.id, modelVersion: sc.modelVersion });
    return { family: spec.family, modelVersion: sc.modelVersion };
  }

  setView(session: Session): void {
    const sc = this.computes.get(session.id);
    if (sc?.job?.live) {
      sc.job.pushWanted = true;
      sc.job.lastActivity = Date.now();
      sc.lane.wakeTrainer(sc.job);
    }
  }

  async closeSession(session: Session): Promise<void> {
    const sc = this.computes.get(session.id);
    if (!sc) return;
    if (sc.job && sc.job.info.state === 'running') {
      sc.job.cancelFlag.abort();
      sc.lane.wakeTrainer(sc.job);
      await sc.job.finished;
      await new Promise((r) => setImmediate(r));
    }
    await sc.lane.runUrgent(async () => {
      await this.checkpoint(sc).catch((e) => this.log.error({ err: e }, 'checkpoint on close failed'));
      if (sc.loaded) await sc.worker.call({ op: 'unload', sessionId: session.id });
      sc.loaded = false;
    });
    sc.detach();
    this.computes.delete(session.id);
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const sc of [...this.computes.values()]) await this.closeSession(sc.session).catch(() => undefined);
    for (const l of this.lanes) l.stop();
    await Promise.all([...this.workers, ...this.spawning].filter(Boolean).map((w) => w.terminate()));
  }

  private emitProgress(sessionId: string, p: ProgressParams): void {
    this.emit('progress', sessionId, p);
  }
}

interface PredictOpts {
  /** Context pixels around the region (default: the U-Net's receptive half-width). */
  context?: number;
  probThresh?: number;
  nmsThresh?: number;
  /** Default: the server's maxObjects. */
  maxObjects?: number;
  signal?: AbortSignal;
  onProgress?: (p: { tile?: number; tiles?: number }) => void;
}

/** Label counts over every image of the session (the package README's "how it was trained"). */
function trainingCounts(session: Session): Omit<TrainingSummary, 'steps' | 'backend' | 'date'> {
  let objects = 0,
    backgroundPixels = 0,
    unlabeled = 0,
    totalPixels = 0;
  for (const im of session.images.values()) {
    const c = im.layer.counts();
    objects += c.objects;
    backgroundPixels += c.background;
    unlabeled += c.unlabeled;
    totalPixels += im.layer.labels.length;
  }
  return { images: session.images.size, objects, backgroundPixels, labeledPixels: totalPixels - unlabeled, totalPixels };
}

/**
 * The raw plane (float32) and its labels that a package's test tensor is cut from: `imageId`, else the first
 * image with labeled objects (else the first image); in a stack, the plane with the most object pixels.
 */
async function testPlane(session: Session, imageId?: string): Promise<{ image: Image2D; labels: Labels2D }> {
  const all = [...session.images.values()];
  const im = imageId !== undefined ? session.image(imageId) : (all.find((i) => i.layer.counts().objects > 0) ?? all[0]);
  if (!im)
    throw new RpcError('ImageNotFound', `session ${session.id} has no images; add one for the package's test tensor`, [
      { path: '/imageId', message: 'no images' },
    ]);
  const { shape, axes } = im.meta;
  const [H, W] = spatialShape(shape, axes).slice(-2);
  const C = axes === 'YXC' ? shape[2] : 1;
  const planes = axes === 'ZYX' || axes === 'TYX' ? shape[0] : 1;
  let best = 0,
    bestCount = -1;
  for (let z = 0; z < planes; z++) {
    let n = 0;
    for (let i = z * H * W; i < (z + 1) * H * W; i++) if (im.layer.labels[i] > 0) n++;
    if (n > bestCount) {
      best = z;
      bestCount = n;
    }
  }
  const pixels = await session.pixels(im.meta.imageId);
  const data = Float32Array.from(pixels.subarray(best * H * W * C, (best + 1) * H * W * C));
  return { image: { height: H, width: W, channels: C, data }, labels: { height: H, width: W, data: im.layer.labels.slice(best * H * W, (best + 1) * H * W) } };
}

function mapWorkerError(e: unknown): never {
  if (e instanceof WorkerError && e.code) throw new RpcError(e.code as never, e.message);
  if (e instanceof WorkerError) throw new RpcError('InternalError', e.message);
  throw e;
}

function copyRegion(labels: Int32Array, corr: Uint8Array, shape: number[], origin: number[], pshape: number[]): { patch: Int32Array; corrections: Uint8Array } {
  const nd = shape.length;
  const [, H, W] = nd === 3 ? shape : [1, shape[0], shape[1]];
  const [oz, oy, ox] = nd === 3 ? origin : [0, origin[0], origin[1]];
  const [dz, dy, dx] = nd === 3 ? pshape : [1, pshape[0], pshape[1]];
  const patch = new Int32Array(dz * dy * dx);
  const corrections = new Uint8Array(dz * dy * dx);
  let k = 0;
  for (let z = 0; z < dz; z++)
    for (let y = 0; y < dy; y++) {
      const i = ((oz + z) * H + oy + y) * W + ox;
      patch.set(labels.subarray(i, i + dx), k);
      corrections.set(corr.subarray(i, i + dx), k);
      k += dx;
    }
  return { patch, corrections };
}

export function createModelService(sessions: SessionManager, config: ServerConfig, log: Logger): ModelService {
  return new ModelServiceImpl(sessions, config, log);
}

/** What a progress report says when a starter adapts to the labeled images (clients show the message). */
export function adaptationMessage(a: { scale: number; invert: boolean; objects: number }): string {
  const what = [a.invert ? 'intensities inverted (dark objects on a bright background)' : '', a.scale !== 1 ? `images resampled by ${a.scale}` : '']
    .filter(Boolean)
    .join(', ');
  return `starter adapted to your images from ${a.objects} labeled objects: ${what || 'no change needed'}`;
}
