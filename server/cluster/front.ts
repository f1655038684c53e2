/**
 * The model service of a front daemon (`sparsecell serve --redis URL`): it validates model requests, keeps the
 * session's metadata and label journals as the embedded daemon does, and hands the compute to the workers through
 * one BullMQ queue. Predictions, imports and exports wait in the queue's plain list, which workers take before any
 * training slice (the prioritized set); a training job is one queued slice at a time per session, so sessions take
 * turns across all workers. Workers publish progress, model.updated and prediction.updated on a Redis channel,
 * which this service re-emits for the session's connections.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { RpcError, invalidParams } from '../errors.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { Session } from '../sessions/session.js';
import type { BackendInfo, ModelService } from '../sessions/model-service.js';
import type { JobInfo } from '../../protocol/src/types.js';
import type { ParamsOf, PredictionResult, ResultOf } from '../../protocol/src/methods.js';
import type { ProgressParams } from '../../protocol/src/progress.js';
import { UNBOUNDED_STEPS } from '../training/config.js';
import { assertLabeled, jobLength, noModelError, predictTarget, suggestTarget, weightsChange } from '../training/job-rules.js';
import { CLUSTER_DEFAULTS, clusterKeys, readJob, type ClusterMessage, type ClusterTask, type WorkerRecord } from './keys.js';

export interface FrontOptions {
  redisUrl: string;
  prefix?: string;
}

export interface ClusterModelService extends ModelService {
  /** The compute workers seen in the last 3 heartbeats (server.info.workers). */
  clusterWorkers(): NonNullable<ResultOf<'server.info'>['workers']>;
}

class FrontService extends EventEmitter implements ClusterModelService {
  private readonly keys;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly queue: Queue;
  private readonly queueEvents: QueueEvents;
  private readonly conns: Redis[];
  private known: WorkerRecord[] = [];
  private readonly poll: NodeJS.Timeout;
  private readonly ended = new Map<string, Array<() => void>>();
  private nextJob = 1;

  constructor(
    private readonly sessions: SessionManager,
    private readonly config: ServerConfig,
    private readonly log: Logger,
    o: FrontOptions,
  ) {
    super();
    this.keys = clusterKeys(o.prefix);
    const opts = { maxRetriesPerRequest: null } as const;
    this.redis = new Redis(o.redisUrl, opts);
    this.sub = new Redis(o.redisUrl, opts);
    // BullMQ does not close connections it is given: shutdown() does.
    this.conns = [new Redis(o.redisUrl, opts), new Redis(o.redisUrl, opts)];
    this.queue = new Queue(CLUSTER_DEFAULTS.queue, { connection: this.conns[0], prefix: o.prefix });
    this.queueEvents = new QueueEvents(CLUSTER_DEFAULTS.queue, { connection: this.conns[1], prefix: o.prefix });
    this.queue.on('error', (e) => log.warn({ err: e.message }, 'queue'));
    this.queueEvents.on('error', (e) => log.warn({ err: e.message }, 'queue events'));
    for (const c of [this.redis, this.sub, ...this.conns]) c.on('error', (e: Error) => log.warn({ err: e.message }, 'redis connection'));
    void this.sub.subscribe(this.keys.events);
    this.sub.on('message', (_ch: string, m: string) => this.onMessage(JSON.parse(m) as ClusterMessage));
    // Workers' label view: every acknowledged (durable) update bumps the session's generation in Redis.
    const generation = (s: Session) => void this.redis.hset(this.keys.session(s.id), { generation: String(s.generation) }).catch(() => undefined);
    const hook = (s: Session) => {
      generation(s);
      s.on('labels', () => {
        generation(s);
        void this.touch(s.id).catch(() => undefined);
      });
    };
    sessions.on('loaded', (s: Session) => {
      hook(s);
      void this.mirrorJob(s).catch((e: Error) => log.warn({ err: e.message }, 'could not read the session job from redis'));
    });
    for (const s of sessions.loadedSessions()) hook(s);
    sessions.on('closing', (s: Session) => void this.closeSession(s));
    this.poll = setInterval(() => void this.refreshWorkers().catch(() => undefined), CLUSTER_DEFAULTS.heartbeatMs);
    void this.refreshWorkers().catch(() => undefined);
  }

  private async refreshWorkers(): Promise<void> {
    const all = await this.redis.hgetall(this.keys.workers);
    const now = Date.now();
    this.known = Object.values(all)
      .map((v) => JSON.parse(v) as WorkerRecord)
      .filter((w) => now - w.seen < 3 * CLUSTER_DEFAULTS.heartbeatMs)
      .sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  clusterWorkers() {
    return this.known.map(({ workerId, host, backend, load, jobsDone, job }) => ({ workerId, host, backend, load, jobsDone, ...(job ? { job } : {}) }));
  }

  backendInfo(): BackendInfo {
    const names = [...new Set(this.known.map((w) => w.backend))];
    return { name: names.length ? names.join(',') : 'none' };
  }

  /** A session loaded after a restart of this daemon: its running job (in Redis) shows in session.get again. */
  private async mirrorJob(s: Session): Promise<void> {
    const jobId = await this.redis.hget(this.keys.session(s.id), 'job');
    if (!jobId || s.jobs.some((j) => j.jobId === jobId)) return;
    const j = readJob(await this.redis.hgetall(this.keys.job(jobId)));
    if (!j) return;
    s.jobs.push({ jobId, kind: 'train', state: j.state, live: j.live, step: j.step, steps: j.live || j.steps >= UNBOUNDED_STEPS ? 0 : j.steps });
  }

  private onMessage(m: ClusterMessage): void {
    let s: Session | undefined;
    try {
      s = this.sessions.loadedSessions().find((x) => x.id === m.sessionId);
    } catch {
      s = undefined;
    }
    if (m.job && s) {
      const info = s.jobs.find((j) => j.jobId === m.job!.jobId);
      if (info)
        Object.assign(info, {
          state: m.job.state,
          step: m.job.step,
          ...(m.job.loss !== undefined ? { loss: m.job.loss } : {}),
          ...(m.job.error ? { error: m.job.error } : {}),
        });
    }
    if (m.model && s && (s.meta.modelVersion ?? 0) < m.model.modelVersion) {
      // session.json mirrors the latest checkpoint (Redis holds the same, for the workers).
      void s.updateMeta({ modelVersion: m.model.modelVersion, trainedGeneration: m.model.trainedGeneration }).catch(() => undefined);
    }
    if (m.job && m.job.state !== 'running') for (const f of this.ended.get(m.job.jobId)?.splice(0) ?? []) f();
    if (m.progress) this.emit('progress', m.sessionId, m.progress);
    if (m.event) this.emit('event', m.sessionId, m.event);
  }

  private async runningJob(sessionId: string): Promise<string | undefined> {
    const jobId = await this.redis.hget(this.keys.session(sessionId), 'job');
    if (!jobId) return undefined;
    return (await this.redis.hget(this.keys.job(jobId), 'state')) === 'running' ? jobId : undefined;
  }

  private async modelVersion(session: Session): Promise<number> {
    return Number((await this.redis.hget(this.keys.session(session.id), 'modelVersion')) ?? session.meta.modelVersion ?? 0);
  }

  async train(session: Session, p: ParamsOf<'model.train'>): Promise<{ jobId: string }> {
    const busy = await this.runningJob(session.id);
    if (busy)
      throw new RpcError('SessionBusy', `session ${session.id} is already training (job ${busy}); cancel it first or use model.configure`, [
        { path: '/sessionId', message: 'busy' },
      ]);
    if (p.resume)
      throw new RpcError('JobNotFound', `session ${session.id} has no interrupted training job to resume (in a cluster, jobs outlive the daemons)`, [
        { path: '/resume', message: 'nothing to resume' },
      ]);
    const live = p.live === true;
    if (!live) assertLabeled(session);
    const change = weightsChange(session, p, this.sessions.starters);
    const sk = this.keys.session(session.id);
    if (change?.from === 'starter')
      await session.updateMeta({ family: change.family, config: {}, starter: change.starter, modelVersion: 0, trainedGeneration: 0 });
    else if (change)
      await session.updateMeta({
        family: p.family ?? session.meta.family,
        config: p.config ?? session.meta.config,
        starter: undefined,
        modelVersion: 0,
        trainedGeneration: 0,
      });
    if (change) await this.redis.hset(sk, { weights: `fresh-${randomBytes(4).toString('hex')}`, modelVersion: '0', trainedGeneration: '0' });
    if (p.options) await session.updateMeta({ trainOptions: { ...session.meta.trainOptions, ...p.options } });
    const jobId = `job${Date.now().toString(36)}${randomBytes(2).toString('hex')}${this.nextJob++}`;
    const { steps, timeLimitS } = jobLength(p);
    const now = String(Date.now());
    await this.redis.hset(this.keys.job(jobId), {
      jobId,
      sessionId: session.id,
      state: 'running',
      live: live ? '1' : '0',
      steps: String(steps),
      ...(timeLimitS !== undefined ? { timeLimitS: String(timeLimitS) } : {}),
      step: '0',
      startStep: '0',
      startedAt: now,
      lastActivity: now,
    });
    // Claim the session: a second model.train racing this one finds the job (one training job per session).
    const prev = await this.redis.hget(sk, 'job');
    await this.redis.hset(sk, 'job', jobId);
    if (prev && prev !== jobId && (await this.redis.hget(this.keys.job(prev), 'state')) === 'running') {
      await this.redis.hset(sk, 'job', prev);
      await this.redis.hset(this.keys.job(jobId), 'state', 'cancelled');
      throw new RpcError('SessionBusy', `session ${session.id} is already training (job ${prev})`, [{ path: '/sessionId', message: 'busy' }]);
    }
    const info: JobInfo = { jobId, kind: 'train', state: 'running', live, step: 0, steps: live || steps >= UNBOUNDED_STEPS ? 0 : steps };
    session.jobs.push(info);
    if (session.jobs.length > 20) session.jobs.splice(0, session.jobs.length - 20);
    this.emit('progress', session.id, {
      token: jobId,
      kind: 'begin',
      title: `${live ? 'live ' : ''}train ${session.meta.family}`,
      step: 0,
      steps: info.steps ?? 0,
    });
    const task: ClusterTask = { kind: 'train', sessionId: session.id, jobId, slice: 0 };
    await this.queue.add('train', task, { jobId: `${jobId}.0`, priority: 1, removeOnComplete: true, removeOnFail: 100 });
    this.log.info({ sessionId: session.id, jobId, live }, 'training job queued');
    return { jobId };
  }

  async configure(session: Session, p: ParamsOf<'model.configure'>) {
    const options = { ...session.meta.trainOptions, ...p.options };
    await session.updateMeta({ trainOptions: options });
    return { options };
  }

  /** Queue an urgent task (ahead of every training slice) and wait for a worker's answer. */
  private async call<T>(task: ClusterTask, signal?: AbortSignal): Promise<T> {
    if (!this.known.length) await this.refreshWorkers();
    if (!this.known.length) throw new RpcError('ResourceLimit', 'no compute worker is connected to this cluster; start one with `sparsecell worker --redis …`');
    const job = await this.queue.add(task.kind, task, { removeOnComplete: 1000, removeOnFail: 1000 });
    const wait = job.waitUntilFinished(this.queueEvents, CLUSTER_DEFAULTS.callTimeoutS * 1000) as Promise<T>;
    const aborted = new Promise<never>((_r, reject) => {
      signal?.addEventListener('abort', () => {
        void job.remove().catch(() => undefined); // still waiting: it never runs
        reject(new RpcError('RequestCancelled', `${task.kind} cancelled`));
      });
    });
    try {
      return await Promise.race([wait, aborted]);
    } catch (e) {
      if (e instanceof RpcError) throw e;
      const msg = (e as Error).message;
      try {
        const { code, message } = JSON.parse(msg) as { code: never; message: string };
        throw new RpcError(code, message);
      } catch (pe) {
        if (pe instanceof RpcError) throw pe;
        throw new RpcError('InternalError', msg);
      }
    }
  }

  async predict(
    session: Session,
    p: ParamsOf<'model.predict'>,
    ctx: { signal: AbortSignal; progress?: (p: ProgressParams) => void },
  ): Promise<PredictionResult> {
    const weights = await this.redis.hget(this.keys.session(session.id), 'weights');
    if (!((await this.modelVersion(session)) > 0 || session.meta.starter !== undefined || (weights && !weights.startsWith('fresh'))))
      throw noModelError(session.id);
    const { z, region } = predictTarget(session, p);
    ctx.progress?.({ token: '', kind: 'begin', title: 'predict', percentage: 0 });
    try {
      const r = await this.call<PredictionResult>(
        {
          kind: 'predict',
          sessionId: session.id,
          imageId: p.imageId,
          z,
          region,
          probThresh: p.probThresh,
          nmsThresh: p.nmsThresh,
          maxObjects: p.maxObjects ?? this.config.maxObjects,
        },
        ctx.signal,
      );
      ctx.progress?.({ token: '', kind: 'end', state: 'done', percentage: 100 });
      return r;
    } catch (e) {
      ctx.progress?.({ token: '', kind: 'end', state: ctx.signal.aborted ? 'cancelled' : 'failed' });
      throw e;
    }
  }

  /** model.suggest: a worker ranks what to annotate next (a prediction-priority task, like predict). */
  async suggest(session: Session, p: ParamsOf<'model.suggest'>, ctx: { signal: AbortSignal }): Promise<ResultOf<'model.suggest'>> {
    const weights = await this.redis.hget(this.keys.session(session.id), 'weights');
    if (!((await this.modelVersion(session)) > 0 || session.meta.starter !== undefined || (weights && !weights.startsWith('fresh'))))
      throw noModelError(session.id);
    const { imageId, z, region } = suggestTarget(session, p);
    return this.call<ResultOf<'model.suggest'>>(
      {
        kind: 'suggest',
        sessionId: session.id,
        imageId,
        z,
        region,
        count: p.count ?? 10,
        probThresh: p.probThresh,
        nmsThresh: p.nmsThresh,
        tta: p.tta,
        reasons: p.reasons,
      },
      ctx.signal,
    );
  }

  async cancel(jobId: string): Promise<{ cancelled: boolean; state: string }> {
    const j = /^[A-Za-z0-9_-]{1,80}$/.test(jobId) ? readJob(await this.redis.hgetall(this.keys.job(jobId))) : undefined;
    if (!j) throw new RpcError('JobNotFound', `no job "${jobId}"`, [{ path: '/jobId', message: 'unknown job' }]);
    if (j.state !== 'running') return { cancelled: false, state: j.state };
    const ended = new Promise<void>((r) => {
      const l = this.ended.get(jobId) ?? [];
      l.push(r);
      this.ended.set(jobId, l);
    });
    await this.redis.hset(this.keys.job(jobId), 'cancel', '1');
    await this.redis.publish(this.keys.cancel, jobId);
    // The slice running now stops at its next step; its worker then ends the job (or the next slice does).
    const deadline = Date.now() + CLUSTER_DEFAULTS.callTimeoutS * 1000;
    while (Date.now() < deadline) {
      const state = await this.redis.hget(this.keys.job(jobId), 'state');
      if (state !== 'running') return { cancelled: true, state: state ?? 'cancelled' };
      await Promise.race([ended, new Promise((r) => setTimeout(r, 200))]);
    }
    return { cancelled: true, state: 'running' };
  }

  async exportModel(session: Session, p: Omit<ParamsOf<'model.export'>, 'sessionId'> = {}) {
    if (p.format === 'bioimageio')
      throw invalidParams([
        {
          path: '/format',
          message: 'a cluster front daemon exports the sparsecell archive only; bioimage.io packages come from an embedded daemon or `sparsecell export`',
        },
      ]);
    if (!((await this.modelVersion(session)) > 0 || session.meta.starter !== undefined))
      throw new RpcError('ModelNotTrained', `session ${session.id} has no trained model to export`);
    const r = await this.call<{ model: string; modelVersion: number }>({ kind: 'export', sessionId: session.id });
    return {
      model: r.model,
      family: session.meta.family,
      modelVersion: r.modelVersion,
      bytes: Buffer.from(r.model, 'base64').length,
      format: 'sparsecell' as const,
    };
  }

  async importModel(session: Session, archive: Uint8Array, format: 'sparsecell' | 'bioimageio' = 'sparsecell') {
    const busy = await this.runningJob(session.id);
    if (busy) throw new RpcError('SessionBusy', `session ${session.id} is training (job ${busy}); cancel it before importing a model`);
    const spec = await this.call<{ family: 'stardist' | 'cellpose' | 'elephant'; config: Record<string, unknown>; modelVersion: number }>({
      kind: 'import',
      sessionId: session.id,
      archive: Buffer.from(archive).toString('base64'),
      format,
      maxBytes: this.config.maxMessageBytes,
    });
    const modelVersion = Math.max((await this.modelVersion(session)) + 1, Number.isSafeInteger(spec.modelVersion) ? spec.modelVersion : 0);
    await this.redis.hset(this.keys.session(session.id), 'modelVersion', String(modelVersion));
    await session.updateMeta({ family: spec.family, config: spec.config, modelVersion, starter: undefined });
    this.emit('event', session.id, { type: 'model.updated', sessionId: session.id, modelVersion });
    return { family: spec.family, modelVersion };
  }

  setView(session: Session, view: NonNullable<Session['view']>): void {
    void this.redis.hset(this.keys.session(session.id), { view: JSON.stringify(view) }).catch(() => undefined);
    void this.touch(session.id);
  }

  /** A live job stays alive while its person edits or looks around. */
  private async touch(sessionId: string): Promise<void> {
    const jobId = await this.runningJob(sessionId);
    if (jobId) await this.redis.hset(this.keys.job(jobId), 'lastActivity', String(Date.now()));
  }

  async closeSession(session: Session): Promise<void> {
    const jobId = await this.runningJob(session.id).catch(() => undefined);
    if (jobId) await this.cancel(jobId).catch(() => undefined);
  }

  async shutdown(): Promise<void> {
    clearInterval(this.poll);
    await this.queueEvents.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    for (const c of [this.sub, this.redis, ...this.conns]) c.disconnect();
  }
}

export function createClusterModelService(sessions: SessionManager, config: ServerConfig, log: Logger, o: FrontOptions): ClusterModelService {
  return new FrontService(sessions, config, log, o);
}
