/**
 * Rules a training or prediction request follows whoever runs it: the embedded model service (service.ts) and the
 * cluster's front daemon and compute workers (server/cluster/). Pure functions of the session and the request.
 */
import { RpcError } from '../errors.js';
import type { Session } from '../sessions/session.js';
import { spatialShape } from '../sessions/session.js';
import type { ParamsOf, ResultOf } from '../../protocol/src/methods.js';
import { finalRateFor, RECIPE, scheduledLearningRate } from '../recipe.js';
import { UNBOUNDED_STEPS } from './config.js';
import type { LiveTrainOptions, SuggestResult } from './worker-protocol.js';
import { invalidParams } from '../errors.js';
import { DEFAULT_STARTER, type StarterRegistry } from '../storage/starters.js';

/** InvalidLabels unless some image of the session has labeled pixels (a job that is not live needs them). */
export function assertLabeled(session: Session): void {
  const labeled = [...session.images.values()].some((im) => {
    const c = im.layer.counts();
    return c.background + (c.objects > 0 ? 1 : 0) > 0;
  });
  if (!labeled)
    throw new RpcError('InvalidLabels', `session ${session.id} has no labeled pixels yet; send labels with labels.update first`, [
      { path: '/sessionId', message: 'nothing labeled' },
    ]);
}

/** The plane and region a model.predict asks for, checked against the image (ShapeMismatch naming the field). */
/**
 * What model.suggest looks at: without imageId the image of the session's view, else the first image; without
 * region the view's region on that image, else the whole plane (z likewise).
 */
export function suggestTarget(session: Session, p: ParamsOf<'model.suggest'>): { imageId: string; z: number; region: [number, number, number, number] } {
  const view = session.view;
  const imageId = p.imageId ?? view?.imageId ?? (session.images.keys().next().value as string | undefined);
  if (imageId === undefined)
    throw new RpcError('ImageNotFound', `session ${session.id} has no images`, [{ path: '/imageId', message: 'no images in the session' }]);
  const onView = view !== undefined && view.imageId === imageId;
  return { imageId, ...predictTarget(session, { ...p, imageId, z: p.z ?? (onView ? view.z : 0), region: p.region ?? (onView ? view.region : undefined) }) };
}

/** model.suggest's answer from the compute thread's ranking (both the embedded daemon and cluster workers). */
export function suggestionsResult(
  r: SuggestResult,
  t: { imageId: string; z: number; region: [number, number, number, number]; planes: boolean; modelVersion: number; generation: number },
): ResultOf<'model.suggest'> {
  const { imageId, z, region, planes } = t;
  return {
    modelVersion: t.modelVersion,
    generation: t.generation,
    imageId,
    region,
    ...(planes ? { z } : {}),
    suggestions: r.suggestions.map((q) => ({
      imageId,
      region: q.region,
      ...(planes ? { z } : {}),
      kind: q.kind,
      reason: q.reason,
      score: Math.round(q.score * 1e4) / 1e4,
      ...(q.polygon ? { polygon: q.polygon.map(([y, x]) => [y, x]) } : {}),
    })),
  };
}

export function predictTarget(session: Session, p: ParamsOf<'model.predict'>): { z: number; region: [number, number, number, number] } {
  const im = session.image(p.imageId);
  const spatial = spatialShape(im.meta.shape, im.meta.axes);
  const [H, W] = spatial.slice(-2);
  const z = p.z ?? 0;
  if (spatial.length === 3 ? z >= spatial[0] : z !== 0)
    throw new RpcError('ShapeMismatch', `z=${z} is outside the image (${spatial.length === 3 ? spatial[0] : 1} planes)`, [
      { path: '/z', message: 'outside the image' },
    ]);
  const region = (p.region ?? [0, 0, H, W]) as [number, number, number, number];
  const [y0, x0, y1, x1] = region;
  if (!(y0 < y1 && x0 < x1 && y1 <= H && x1 <= W))
    throw new RpcError('ShapeMismatch', `region [${region}] is empty or outside the ${H}x${W} plane`, [{ path: '/region', message: 'outside the image' }]);
  return { z, region };
}

export function noModelError(sessionId: string): RpcError {
  return new RpcError(
    'ModelNotTrained',
    `session ${sessionId} has no trained model yet; run model.train or model.import first (or create it with a starter model)`,
  );
}

/** What a training job needs to know about its own length. */
export interface JobLength {
  live: boolean;
  /** Total steps (UNBOUNDED_STEPS when limited by time only). */
  steps: number;
  timeLimitS?: number;
}

/**
 * Steps and time limit of a new job: a resumed job goes on counting from the step its checkpoint holds, towards
 * the interrupted job's total (or under its time limit). Otherwise, neither steps nor a time limit: the recipe's
 * time budget (server/recipe.ts).
 */
export function jobLength(
  p: ParamsOf<'model.train'>,
  resume?: { step: number; steps: number; timeLimitS?: number },
): { fromStep: number; steps: number; timeLimitS?: number } {
  const fromStep = resume?.step ?? 0;
  const steps = resume ? (p.steps !== undefined ? fromStep + p.steps : resume.steps || UNBOUNDED_STEPS) : (p.steps ?? UNBOUNDED_STEPS);
  const timeLimitS = p.timeLimitS ?? (p.steps !== undefined ? undefined : resume ? resume.timeLimitS : RECIPE.budgetS);
  return { fromStep, steps, timeLimitS };
}

/** Whether a job that is not live has reached its steps or its time limit. */
export function jobDue(job: JobLength, step: number, elapsedS: number): boolean {
  return !job.live && (step >= job.steps || (job.timeLimitS !== undefined && elapsedS >= job.timeLimitS));
}

/**
 * steps / etaS / percentage of a job: by steps, by its time limit, or both (whichever ends it first). A job limited
 * by time only reports the steps it will reach at the current rate.
 */
export function jobProgress(job: JobLength, step: number, elapsedS: number, stepsPerS: number): { steps: number; etaS?: number; percentage?: number } {
  if (job.live) return { steps: 0 };
  const bySteps = job.steps < UNBOUNDED_STEPS ? { eta: (job.steps - step) / Math.max(stepsPerS, 1e-6), frac: step / job.steps } : undefined;
  const byTime = job.timeLimitS ? { eta: job.timeLimitS - elapsedS, frac: elapsedS / job.timeLimitS } : undefined;
  const ends = [bySteps, byTime].filter((e) => e !== undefined);
  if (!ends.length) return { steps: 0 };
  const etaS = Math.max(0, Math.min(...ends.map((e) => e.eta)));
  const percentage = Math.min(100, 100 * Math.max(...ends.map((e) => e.frac)));
  const steps = bySteps && (!byTime || bySteps.eta <= byTime.eta) ? job.steps : Math.max(step, Math.round(step + etaS * stepsPerS));
  return { steps, etaS, percentage };
}

/**
 * The training options of one slice: live defaults, or the recipe's learning-rate schedule (lrFinal for the last
 * part of the run; a configured rate is the first phase's). A model that began from a starter is fine-tuned with
 * RECIPE.finetune (lower rates, warm-up, encoder frozen at first; live jobs have their own rate, warm-up and freeze).
 */
export function sliceOptions(
  job: JobLength,
  fromStarter: boolean,
  options: LiveTrainOptions,
  liveOptions: LiveTrainOptions,
  step: number,
  elapsedS: number,
): LiveTrainOptions {
  const ft = fromStarter ? RECIPE.finetune : undefined;
  const policy = ft ? { warmupSteps: ft.warmupSteps, freezeEncoderSteps: ft.freezeEncoderSteps } : {};
  const livePolicy = ft ? { learningRate: ft.liveLearningRate, warmupSteps: ft.liveWarmupSteps, freezeEncoderSteps: ft.liveFreezeEncoderSteps } : {};
  if (job.live) return { ...liveOptions, ...livePolicy, ...options };
  return {
    ...policy,
    ...options,
    learningRate: scheduledLearningRate(
      {
        ...RECIPE,
        learningRate: options.learningRate ?? (ft ?? RECIPE).learningRate,
        lrFinal: options.learningRate !== undefined ? finalRateFor(options.learningRate, ft ?? RECIPE) : (ft ?? RECIPE).lrFinal,
        steps: job.steps,
        timeLimitS: job.timeLimitS ?? 0,
      },
      step,
      elapsedS,
      UNBOUNDED_STEPS,
    ),
  };
}

/** How a model.train changes the session's weights before it trains: back to a starter, fresh, or not at all. */
export type WeightsChange = { from: 'starter'; family: Session['meta']['family']; starter: string } | { from: 'scratch' } | undefined;

/**
 * from: "starter" loads the family's starter model; from: "scratch", reset without a starter, and family / config
 * changes start fresh weights (and the session no longer has a starter); reset with a starter goes back to it.
 */
export function weightsChange(session: Session, p: ParamsOf<'model.train'>, starters: StarterRegistry): WeightsChange {
  const familyChanged = p.family !== undefined && p.family !== session.meta.family;
  const configChanged = p.config !== undefined && JSON.stringify(p.config) !== JSON.stringify(session.meta.config);
  const from = p.from ?? (p.reset ? (session.meta.starter !== undefined && !familyChanged && !configChanged ? 'starter' : 'scratch') : undefined);
  if (from === 'starter') {
    const family = p.family ?? session.meta.family;
    const name = session.meta.starter ?? DEFAULT_STARTER;
    if (p.config !== undefined && Object.keys(p.config).length > 0)
      throw invalidParams([{ path: '/config', message: 'a starter model fixes the family config; leave config out with from: "starter"' }]);
    if (!starters.find(name, family))
      throw invalidParams([{ path: '/from', message: `no built-in ${family} starter model "${name}" (server.info.starterModels lists them)` }]);
    return { from: 'starter', family, starter: name };
  }
  return familyChanged || configChanged || from === 'scratch' ? { from: 'scratch' } : undefined;
}

/**
 * Live suggestions are put off while an edit on the same compute worker waits for its push (a suggestion costs a few
 * network passes, and the person who is painting should see the refreshed view first), but never longer than this
 * many times suggestEveryS. With 4 live sessions on one worker, suggestions every 10 s without this doubled the
 * median edit -> refreshed view (bench/results/live-starter-*.json).
 */
export const LIVE_SUGGEST_DEFER_FACTOR = 3;

/** Whether a live job pushes suggestions now: `sinceS` since its last ones, every `suggestS` (0 = never). */
export function liveSuggestDue(sinceS: number, suggestS: number, editsWaiting: () => boolean): boolean {
  if (suggestS <= 0 || sinceS < suggestS) return false;
  return sinceS >= LIVE_SUGGEST_DEFER_FACTOR * suggestS || !editsWaiting();
}
