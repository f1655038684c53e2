/**
 * What the front daemon and the compute workers share through Redis: key names, the queue, the pub/sub channels
 * and the messages on them. Redis holds scheduling state only (jobs, their step, the session's latest weights);
 * labels, images and checkpoints stay in the shared store.
 */
import type { EventParams, ProgressParams } from '../../protocol/src/progress.js';
import type { JobLength } from '../training/job-rules.js';
import type { WorkerRequest } from '../training/worker-protocol.js';

export const CLUSTER_DEFAULTS = {
  /** One BullMQ queue: predictions, imports and exports wait in its plain list, training slices by priority (after). */
  queue: 'sparsecell-compute',
  /** Worker records are refreshed this often; one unseen for 3 periods has left. */
  heartbeatMs: 1000,
  /** BullMQ lock of an active job and the stalled-job check: a dead worker's job is taken over after about this long. */
  lockMs: 10_000,
  stalledMs: 5_000,
  /** A training slice: at most this long (then a checkpoint, and the next session's turn). */
  sliceMs: 1_000,
  /** A slice of a live job (each ends with a checkpoint and, when due, a push of the view). */
  liveSliceMs: 300,
  /** A live job without labels to train on looks again after this long. */
  liveRetryMs: 300,
  /** How long the front waits for a prediction, an import or an export. */
  callTimeoutS: 600,
};

export interface ClusterKeys {
  /** Hash per session: job (the running job's id), weights (id of the latest checkpoint), modelVersion, trainedGeneration, generation, view. */
  session(sessionId: string): string;
  /** Hash per training job: sessionId, state, step, steps, live, timeLimitS, startedAt, loss, cancel, lastActivity, error. */
  job(jobId: string): string;
  /** Hash workerId -> JSON WorkerRecord. */
  workers: string;
  /** Channel of ClusterMessage (worker -> front). */
  events: string;
  /** Channel of job ids to cancel (front -> workers). */
  cancel: string;
}

export function clusterKeys(prefix = 'sparsecell'): ClusterKeys {
  return {
    session: (id) => `${prefix}:session:${id}`,
    job: (id) => `${prefix}:job:${id}`,
    workers: `${prefix}:workers`,
    events: `${prefix}:events`,
    cancel: `${prefix}:cancel`,
  };
}

/** A compute worker as server.info lists it. */
export interface WorkerRecord {
  workerId: string;
  host: string;
  pid: number;
  backend: string;
  /** Share of the last minute spent on jobs (0..1). */
  load: number;
  jobsDone: number;
  job?: { kind: string; sessionId: string; jobId?: string };
  /** ms since the epoch of the last heartbeat. */
  seen: number;
}

/** What a prediction asks a worker (the compute thread's request without its defaults). */
export type PredictTask = Pick<Extract<WorkerRequest, { op: 'predict' }>, 'sessionId' | 'imageId' | 'z' | 'region' | 'probThresh' | 'nmsThresh'> & {
  maxObjects?: number;
};

/** What a suggestion asks a worker. */
export type SuggestTask = Pick<
  Extract<WorkerRequest, { op: 'suggest' }>,
  'sessionId' | 'imageId' | 'z' | 'region' | 'count' | 'probThresh' | 'nmsThresh' | 'tta' | 'reasons'
>;

/** Data of a queued task. */
export type ClusterTask =
  | { kind: 'train'; sessionId: string; jobId: string; slice: number }
  | ({ kind: 'predict' } & PredictTask)
  | ({ kind: 'suggest' } & SuggestTask)
  | { kind: 'export'; sessionId: string }
  | { kind: 'import'; sessionId: string; archive: string; format: 'sparsecell' | 'bioimageio'; maxBytes: number };

/** A training job as Redis holds it (hash fields are strings; see readJob). */
export interface ClusterJob extends JobLength {
  jobId: string;
  sessionId: string;
  state: 'running' | 'done' | 'cancelled' | 'failed';
  step: number;
  startStep: number;
  startedAt: number;
  lastActivity: number;
  loss?: number;
  cancel: boolean;
  error?: string;
  workerId?: string;
  /** Live: label generation and view of the last push, its step and time. */
  pushKey?: string;
  pushStep: number;
  pushAt: number;
}

export function readJob(h: Record<string, string>): ClusterJob | undefined {
  if (!h.sessionId) return undefined;
  return {
    jobId: h.jobId,
    sessionId: h.sessionId,
    state: h.state as ClusterJob['state'],
    live: h.live === '1',
    steps: Number(h.steps),
    ...(h.timeLimitS ? { timeLimitS: Number(h.timeLimitS) } : {}),
    step: Number(h.step ?? 0),
    startStep: Number(h.startStep ?? 0),
    startedAt: Number(h.startedAt),
    lastActivity: Number(h.lastActivity ?? h.startedAt),
    ...(h.loss ? { loss: Number(h.loss) } : {}),
    cancel: h.cancel === '1',
    ...(h.error ? { error: h.error } : {}),
    ...(h.workerId ? { workerId: h.workerId } : {}),
    ...(h.pushKey ? { pushKey: h.pushKey } : {}),
    pushStep: Number(h.pushStep ?? 0),
    pushAt: Number(h.pushAt ?? 0),
  };
}

/** Worker -> front, on the events channel: a $/progress or $/event for the session's clients, and the job's state. */
export interface ClusterMessage {
  sessionId: string;
  workerId: string;
  progress?: ProgressParams;
  event?: EventParams;
  /** The job's state after this message (the front mirrors it in session.get's jobs). */
  job?: { jobId: string; state: ClusterJob['state']; step: number; steps: number; loss?: number; error?: string };
  /** A checkpoint was written: the front mirrors it in session.json. */
  model?: { modelVersion: number; trainedGeneration: number };
}
