/**
 * Compute worker thread: owns a tensor backend, the models of the sessions pinned to it, their normalised
 * images and a copy of their sparse labels. Executes one task at a time (the main thread's Lane decides the
 * order); checks the shared cancel flag between training steps and prediction tiles.
 */
import { parentPort } from 'node:worker_threads';
import { encodeNdArray } from '../../protocol/src/ndarray.js';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendPreference } from '../tensor/backend.js';
import { listDevices } from '../tensor/devices.js';
import { niceCurrentThread } from '../storage/thread-priority.js';
import { createModel, deserializeModel, disposeModel, serializeModel, storedThresholds, type SegmentationModel } from '../models/segmentation-model.js';
import { unetDecoderVariables, unetTrainableVariables } from '../models/unet/unet.js';
import { finetuneStep } from '../recipe.js';
import { normalizeStack } from '../imaging/normalize.js';
import { autoBackground } from '../imaging/auto-background.js';
import type { Image2D, Labels2D } from '../imaging/types.js';
import { PatchSampler, type TrainingSample } from './sampler.js';
import { parseTrainOptions } from './config.js';
import { createSampler, setLearningRate, trainStep } from './train.js';
import { predictImage, defaultOverlap, PredictionAbortedError } from './predict.js';
import { modelScale, rescaleImage, rescaleSample, unscaleInstances } from './rescale.js';
import { adaptationBrief, adaptationOf, applyAdaptation, chooseAdaptation, type AdaptSample, type InputAdaptation } from './adapt.js';
import { buildPackage, importPackage, pickTestCrop, PackageError, type ExportMetadata } from '../bioimageio/package.js';
import { resizeLabels, scaledSize } from '../imaging/resize.js';
import { suggestOnPlane } from './suggest.js';
import type {
  LiveTrainOptions,
  PredictResult,
  SuggestResult,
  TrainSliceResult,
  WorkerImage,
  WorkerReply,
  WorkerRequest,
  WorkerTask,
} from './worker-protocol.js';

interface ImageData {
  shape: number[]; // spatial
  planes: Image2D[]; // one per z, normalised together (percentiles over the whole stack)
  labels: Int32Array;
  corrections: Uint8Array;
}

interface SessionState {
  model: SegmentationModel;
  optimizer?: tf.Optimizer;
  images: Map<string, ImageData>;
  autoBackground: boolean;
  sampler?: PatchSampler<never>;
  samplerKey?: string;
  focusSampler?: PatchSampler<never>;
  focusKey?: string;
  dirty: boolean;
  step: number;
  /** The maps of the last prediction window (model.suggest right after it reuses them), for this model and step. */
  lastMaps?: { imageId: string; z: number; window: [number, number, number, number]; maps: Image2D; model: SegmentationModel; step: number };
}

/** Largest window whose maps are kept for a following model.suggest (px). */
const KEEP_MAPS_PX = 1024 * 1024;

const sessions = new Map<string, SessionState>();

/** Largest region (pixels) predicted in a single network window. */
const SINGLE_WINDOW_PX = 1536 * 1024;

class TaskError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function toFloatPlanes(img: WorkerImage): { planes: Image2D[]; spatial: number[] } {
  const { pixels, shape, axes } = img;
  if (axes === 'YXC') {
    const [H, W, C] = shape;
    return { planes: [{ height: H, width: W, channels: C, data: Float32Array.from(pixels) }], spatial: [H, W] };
  }
  if (axes === 'YX') {
    const [H, W] = shape;
    return { planes: [{ height: H, width: W, channels: 1, data: Float32Array.from(pixels) }], spatial: [H, W] };
  }
  const [Z, H, W] = shape;
  const planes: Image2D[] = [];
  for (let z = 0; z < Z; z++) planes.push({ height: H, width: W, channels: 1, data: Float32Array.from(pixels.subarray(z * H * W, (z + 1) * H * W)) });
  return { planes, spatial: [Z, H, W] };
}

function addImage(st: SessionState, img: WorkerImage): void {
  const { planes, spatial } = toFloatPlanes(img);
  st.images.set(img.imageId, { shape: spatial, planes: normalizeStack(planes, st.model.normalization), labels: img.labels, corrections: img.corrections });
  st.dirty = true;
}

function configError(e: unknown): TaskError {
  const msg = (e as Error).message;
  return new TaskError(msg, 'InvalidParams');
}

function newModel(family: string, config: Record<string, unknown>, inputChannels: number): SegmentationModel {
  try {
    return createModel(family, { inputChannels, ...config });
  } catch (e) {
    throw configError(e);
  }
}

function inputChannelsOf(images: WorkerImage[]): number {
  const im = images[0];
  return im && im.axes === 'YXC' ? im.shape[2] : 1;
}

/** Training samples: every plane with labeled pixels; corrections weigh correctionWeight. */
function samples(st: SessionState, only?: { imageId: string; z: number; region: [number, number, number, number]; margin: number }): TrainingSample[] {
  const out: TrainingSample[] = [];
  const cw = st.model.config.correctionWeight;
  for (const [imageId, im] of st.images) {
    if (only && only.imageId !== imageId) continue;
    const [H, W] = im.shape.slice(-2);
    for (let z = 0; z < im.planes.length; z++) {
      if (only && only.z !== z) continue;
      let labels = im.labels.subarray(z * H * W, (z + 1) * H * W);
      let image = im.planes[z];
      let corr = im.corrections.subarray(z * H * W, (z + 1) * H * W);
      let h = H,
        w = W;
      if (only) {
        const y0 = Math.max(0, only.region[0] - only.margin),
          x0 = Math.max(0, only.region[1] - only.margin);
        const y1 = Math.min(H, only.region[2] + only.margin),
          x1 = Math.min(W, only.region[3] + only.margin);
        h = y1 - y0;
        w = x1 - x0;
        const C = image.channels;
        const l = new Int32Array(h * w),
          c = new Uint8Array(h * w),
          d = new Float32Array(h * w * C);
        for (let y = 0; y < h; y++) {
          const src = (y0 + y) * W + x0;
          l.set(labels.subarray(src, src + w), y * w);
          c.set(corr.subarray(src, src + w), y * w);
          d.set(image.data.subarray(src * C, (src + w) * C), y * w * C);
        }
        labels = l;
        corr = c;
        image = { height: h, width: w, channels: C, data: d };
      }
      let any = false;
      for (let i = 0; i < labels.length; i++)
        if (labels[i] >= 0) {
          any = true;
          break;
        }
      if (!any) continue;
      let lab: Labels2D = { height: h, width: w, data: labels };
      if (st.autoBackground) lab = autoBackground(lab, image);
      let weightMultiplier: Float32Array | undefined;
      for (let i = 0; i < corr.length; i++)
        if (corr[i]) {
          weightMultiplier ??= new Float32Array(corr.length).fill(1);
          weightMultiplier[i] = cw;
        }
      out.push(rescaleSample({ image, labels: lab, ...(weightMultiplier ? { weightMultiplier } : {}) }, modelScale(st.model)));
    }
  }
  return out;
}

function makeSampler(st: SessionState, s: TrainingSample[], o: LiveTrainOptions): PatchSampler<never> {
  const { learningRate: _lr, pushEverySteps: _n, pushEveryS: _t, suggestEveryS: _s, ...rest } = o;
  const opts = parseTrainOptions(rest);
  return createSampler(st.model, s, { ...opts, seed: opts.seed + st.step }) as PatchSampler<never>;
}

async function trainSlice(
  st: SessionState,
  req: Extract<WorkerRequest, { op: 'train' }>,
  cancel: Int32Array,
  post: (p: WorkerReply) => void,
  id: number,
): Promise<TrainSliceResult> {
  const key = JSON.stringify(req.options);
  let adapted: InputAdaptation | undefined;
  try {
    // only when the labels changed since the last try (live mode calls this for every slice)
    adapted = req.adapt && (st.dirty || !st.sampler) ? await adaptSession(st, cancel) : undefined;
  } catch (e) {
    // cancelled while choosing (its network passes check the cancel flag): a cancelled slice, nothing changed
    if (e instanceof PredictionAbortedError) return { steps: 0, loss: NaN, cancelled: true, hasData: true };
    throw e;
  }
  if (!st.sampler || st.dirty || st.samplerKey !== key) {
    const s = samples(st);
    st.sampler = s.length ? makeSampler(st, s, req.options) : undefined;
    st.samplerKey = key;
    st.focusSampler = undefined;
    st.dirty = false;
  }
  if (!st.sampler) return { steps: 0, loss: NaN, cancelled: false, hasData: false };
  const adaptedInfo = adapted ? { adapted: { scale: adapted.scale, invert: adapted.invert, objects: adapted.objects, ms: adapted.ms } } : {};
  // Live mode: half of the batches come from around the latest edit.
  if (req.focus) {
    const fk = JSON.stringify(req.focus) + key;
    if (st.focusKey !== fk) {
      const fs = samples(st, { ...req.focus, margin: st.sampler.patchSize });
      st.focusSampler = fs.length ? makeSampler(st, fs, req.options) : undefined;
      st.focusKey = fk;
    }
  }
  const lr = req.options.learningRate ?? parseTrainOptions({}).learningRate;
  if (!st.optimizer) st.optimizer = tf.train.adam(lr);
  const policy = { warmupSteps: req.options.warmupSteps ?? 0, freezeEncoderSteps: req.options.freezeEncoderSteps ?? 0 };
  // Decoder first: the frozen-encoder steps train a prefix of this list (Adam's slots are positional).
  const vars = unetTrainableVariables(st.model.unet);
  const decoderVars = unetDecoderVariables(st.model.unet);
  const t0 = Date.now();
  let steps = 0,
    lossSum = 0,
    cancelled = false;
  while (steps < req.steps) {
    if (Atomics.load(cancel, 0) === 1) {
      cancelled = true;
      break;
    }
    const src = st.focusSampler && steps % 2 === 1 ? st.focusSampler : st.sampler;
    const ft = finetuneStep(policy, (req.jobStep ?? 0) + steps);
    setLearningRate(st.optimizer, lr * ft.lrFactor);
    const loss = await trainStep(st.model, st.optimizer, src.next(), ft.freezeEncoder ? decoderVars : vars);
    if (!Number.isFinite(loss)) throw new TaskError(`training diverged at step ${st.step + 1} (loss ${loss}); lower the learning rate`, 'InternalError');
    steps++;
    st.step++;
    st.model.meta.steps = ((st.model.meta.steps as number | undefined) ?? 0) + 1;
    lossSum += loss;
    post({ id, progress: { step: steps, loss } });
    if (Date.now() - t0 >= req.maxMs) break;
  }
  return { steps, loss: steps ? lossSum / steps : NaN, cancelled, hasData: true, ...adaptedInfo };
}

/** The stored normalised planes inverted in place (v -> 1 - v: what normalization.invert does to a fresh plane). */
function invertPlanes(st: SessionState): void {
  for (const im of st.images.values()) for (const p of im.planes) for (let i = 0; i < p.data.length; i++) p.data[i] = 1 - p.data[i];
}

/**
 * A starter-based session model without an input adaptation: choose one from the labeled planes (training/adapt.ts)
 * once enough objects are labeled; inverting flips the stored normalised planes, and the training samples are
 * rebuilt at the new scale. Returns the adaptation chosen now.
 */
async function adaptSession(st: SessionState, cancel: Int32Array): Promise<InputAdaptation | undefined> {
  if (adaptationOf(st.model) || st.model.normalization.invert) return undefined;
  const list: AdaptSample[] = [];
  for (const im of st.images.values()) {
    const [H, W] = im.shape.slice(-2);
    for (let z = 0; z < im.planes.length; z++) {
      const data = im.labels.subarray(z * H * W, (z + 1) * H * W);
      if (data.some((v) => v > 0)) list.push({ image: im.planes[z], labels: { height: H, width: W, data } });
    }
  }
  const a = await chooseAdaptation(st.model, list, { signal: abortFlag(cancel) });
  if (!a) return undefined;
  applyAdaptation(st.model, a);
  if (a.invert) invertPlanes(st);
  st.dirty = true;
  st.lastMaps = undefined;
  return a;
}

async function predict(
  st: SessionState,
  req: Extract<WorkerRequest, { op: 'predict' }>,
  cancel: Int32Array,
  post: (p: WorkerReply) => void,
  id: number,
): Promise<PredictResult> {
  const im = st.images.get(req.imageId);
  if (!im) throw new TaskError(`image ${req.imageId} is not loaded`, 'ImageNotFound');
  const plane = im.planes[req.z];
  const [y0, x0, y1, x1] = req.region;
  const H = plane.height,
    W = plane.width,
    C = plane.channels;
  // Predict on the region plus context so objects at the region border are whole.
  const ctx = req.context ?? defaultOverlap(st.model.unet.config.depth, st.model.unet.config.grid);
  const ey0 = Math.max(0, y0 - ctx),
    ex0 = Math.max(0, x0 - ctx),
    ey1 = Math.min(H, y1 + ctx),
    ex1 = Math.min(W, x1 + ctx);
  const eh = ey1 - ey0,
    ew = ex1 - ex0;
  let sub: Image2D = plane;
  if (eh !== H || ew !== W) {
    const d = new Float32Array(eh * ew * C);
    for (let y = 0; y < eh; y++) d.set(plane.data.subarray(((ey0 + y) * W + ex0) * C, ((ey0 + y) * W + ex1) * C), y * ew * C);
    sub = { height: eh, width: ew, channels: C, data: d };
  }
  const signal = abortFlag(cancel);
  const scale = modelScale(st.model);
  const input = rescaleImage(sub, scale);
  // Regions up to SINGLE_WINDOW_PX go through the network in one window (no context computed twice). Larger
  // images are tiled (bounded memory, progress per tile; at most 1.3x their pixels, see imaging/tiling.ts).
  const side = Math.max(input.height, input.width);
  const tileSize = input.height * input.width <= SINGLE_WINDOW_PX ? side : undefined;
  const maps = await predictImage(st.model, input, {
    normalized: true,
    tileSize,
    signal,
    onProgress: (p) => post({ id, progress: { tile: p.done, tiles: p.total } }),
  });
  st.lastMaps =
    eh * ew <= KEEP_MAPS_PX && scale === 1 ? { imageId: req.imageId, z: req.z, window: [ey0, ex0, ey1, ex1], maps, model: st.model, step: st.step } : undefined;
  // Request thresholds win; then the ones stored with the model (a starter's, chosen on validation images).
  const stored = storedThresholds(st.model);
  const raw = st.model.family.postprocess(maps, st.model.config, {
    probThresh: req.probThresh ?? stored.probThresh,
    nmsThresh: req.nmsThresh ?? stored.nmsThresh,
    maxObjects: req.maxObjects,
  });
  const inst = unscaleInstances(raw, scale, eh, ew);
  const h = y1 - y0,
    w = x1 - x0;
  const labels = new Int32Array(h * w);
  const present = new Set<number>();
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = inst.labels.data[(y + y0 - ey0) * ew + (x + x0 - ex0)];
      labels[y * w + x] = v;
      if (v > 0) present.add(v);
    }
  let polygons = inst.polygons.filter((p) => present.has(p.id));
  // Families that cannot stop early are capped here: the best-scoring maxObjects stay.
  let truncated = raw.truncated === true;
  if (present.size > req.maxObjects) {
    truncated = true;
    const keep = new Set(
      polygons
        .sort((a, b) => b.score - a.score || a.id - b.id)
        .slice(0, req.maxObjects)
        .map((p) => p.id),
    );
    polygons = polygons.filter((p) => keep.has(p.id)).sort((a, b) => a.id - b.id);
    for (let i = 0; i < labels.length; i++) if (labels[i] > 0 && !keep.has(labels[i])) labels[i] = 0;
  }
  // Encoded here, not on the event loop: deflating a 512x512 label image takes milliseconds, and live mode does it
  // for every push of every session.
  return {
    labels: encodeNdArray(labels, [h, w], { deflate: true }),
    polygons: polygons.map((p) => ({ id: p.id, score: p.score, points: p.points.map(([y, x]) => [y + ey0, x + ex0] as [number, number]) })),
    truncated,
  };
}

/** model.suggest: rank what to annotate next in a region of one plane (training/suggest.ts). */
async function suggest(st: SessionState, req: Extract<WorkerRequest, { op: 'suggest' }>, cancel: Int32Array): Promise<SuggestResult> {
  const im = st.images.get(req.imageId);
  if (!im) throw new TaskError(`image ${req.imageId} is not loaded`, 'ImageNotFound');
  const plane = im.planes[req.z];
  const HW = plane.height * plane.width;
  const labels = { height: plane.height, width: plane.width, data: im.labels.subarray(req.z * HW, (req.z + 1) * HW) };
  const m = st.lastMaps;
  const fresh = m && m.imageId === req.imageId && m.z === req.z && m.model === st.model && m.step === st.step;
  const suggestions = await suggestOnPlane(st.model, plane, labels, req.region, {
    count: req.count,
    context: req.context,
    plainMaps: fresh ? { window: m.window, maps: m.maps } : undefined,
    probThresh: req.probThresh,
    nmsThresh: req.nmsThresh,
    tta: req.tta,
    reasons: req.reasons,
    signal: abortFlag(cancel),
    singleWindowPx: SINGLE_WINDOW_PX,
  });
  return { suggestions };
}

/** An AbortSignal-like view of a task's shared cancel flag. */
function abortFlag(cancel: Int32Array): AbortSignal {
  return {
    get aborted() {
      return Atomics.load(cancel, 0) === 1;
    },
  } as AbortSignal;
}

/** The session model as a bioimage.io package; the test crop comes from `image` at the model's scale. */
function exportPackage(st: SessionState, image: Image2D, labels: Labels2D, meta: ExportMetadata): Uint8Array {
  const scale = modelScale(st.model);
  const img = rescaleImage(image, scale);
  const lab = scale === 1 ? labels : resizeLabels(labels, scaledSize(labels.height, scale), scaledSize(labels.width, scale));
  const crop = pickTestCrop(img, st.model.unet.config, lab);
  const steps = (st.model.meta.steps as number | undefined) ?? (st.model.meta.training as { steps?: number } | undefined)?.steps ?? 0;
  try {
    return buildPackage(st.model, crop, { ...meta, training: { ...meta.training, steps } }, scale).zip;
  } catch (e) {
    if (e instanceof PackageError) throw new TaskError(e.message, 'InvalidModel');
    throw e;
  }
}

function state(sessionId: string): SessionState {
  const st = sessions.get(sessionId);
  if (!st) throw new TaskError(`session ${sessionId} is not loaded in this worker`, 'InternalError');
  return st;
}

function unload(sessionId: string): void {
  const st = sessions.get(sessionId);
  if (!st) return;
  st.lastMaps = undefined;
  st.optimizer?.dispose();
  disposeModel(st.model);
  sessions.delete(sessionId);
}

async function handle(task: WorkerTask, post: (p: WorkerReply, transfer?: ArrayBuffer[]) => void): Promise<unknown> {
  const { req, cancel, id } = task;
  switch (req.op) {
    case 'init': {
      // Before the backend exists: libtensorflow's pools, created next, inherit this thread's priority.
      niceCurrentThread(req.nice ?? 0);
      return { ...(await initBackend(req.backend as BackendPreference, { threads: req.threads })), devices: await listDevices() };
    }
    case 'load': {
      unload(req.sessionId);
      let model: SegmentationModel;
      if (req.archive) {
        try {
          model = deserializeModel(req.archive);
        } catch (e) {
          throw new TaskError(`stored checkpoint cannot be read: ${(e as Error).message}`, 'InvalidModel');
        }
        const ch = inputChannelsOf(req.images);
        if (req.images.length && model.config.inputChannels !== ch) {
          disposeModel(model);
          throw new TaskError(`the session's model expects ${model.config.inputChannels} input channel(s); its images have ${ch}`, 'InvalidModel');
        }
      } else model = newModel(req.family, req.config, inputChannelsOf(req.images));
      const st: SessionState = { model, images: new Map(), autoBackground: req.autoBackground, dirty: true, step: 0 };
      sessions.set(req.sessionId, st);
      for (const im of req.images) addImage(st, im);
      return { family: model.family.name, adaptation: adaptationBrief(model) };
    }
    case 'reset': {
      const st = state(req.sessionId);
      const ch = st.model.config.inputChannels;
      const model = newModel(req.family, req.config, ch);
      st.optimizer?.dispose();
      st.optimizer = undefined;
      disposeModel(st.model);
      st.model = model;
      st.dirty = true;
      return { family: model.family.name };
    }
    case 'addImage':
      addImage(state(req.sessionId), req.image);
      return true;
    case 'labels': {
      const st = state(req.sessionId);
      const im = st.images.get(req.imageId);
      if (!im) throw new TaskError(`image ${req.imageId} is not loaded`, 'ImageNotFound');
      const nd = im.shape.length;
      const [, H, W] = nd === 3 ? im.shape : [1, im.shape[0], im.shape[1]];
      const [oz, oy, ox] = nd === 3 ? req.origin : [0, req.origin[0], req.origin[1]];
      const [dz, dy, dx] = nd === 3 ? req.shape : [1, req.shape[0], req.shape[1]];
      let k = 0;
      for (let z = 0; z < dz; z++)
        for (let y = 0; y < dy; y++, k += dx) {
          const i = ((oz + z) * H + oy + y) * W + ox;
          im.labels.set(req.patch.subarray(k, k + dx), i);
          im.corrections.set(req.corrections.subarray(k, k + dx), i);
        }
      st.dirty = true;
      return true;
    }
    case 'train':
      return trainSlice(state(req.sessionId), req, cancel, post, id);
    case 'predict':
      return predict(state(req.sessionId), req, cancel, post, id);
    case 'suggest':
      return suggest(state(req.sessionId), req, cancel);
    case 'export': {
      const st = state(req.sessionId);
      st.model.version = req.modelVersion; // the archive carries the session's model version (its lineage)
      return serializeModel(st.model);
    }
    case 'import': {
      const st = state(req.sessionId);
      let model: SegmentationModel;
      try {
        model = req.format === 'bioimageio' ? importPackage(req.archive, req.maxBytes ?? req.archive.length * 64) : deserializeModel(req.archive);
      } catch (e) {
        const what = req.format === 'bioimageio' ? 'bioimage.io package cannot be imported' : 'model archive cannot be read';
        throw new TaskError(`${what}: ${(e as Error).message}`, 'InvalidModel');
      }
      if (model.config.inputChannels !== st.model.config.inputChannels) {
        disposeModel(model);
        throw new TaskError(
          `model expects ${model.config.inputChannels} input channels; the session images have ${st.model.config.inputChannels}`,
          'InvalidModel',
        );
      }
      st.optimizer?.dispose();
      st.optimizer = undefined;
      // the stored planes were normalised for the old model: flip them when the new one inverts and the old did not (or back)
      if (Boolean(model.normalization.invert) !== Boolean(st.model.normalization.invert)) invertPlanes(st);
      disposeModel(st.model);
      st.model = model;
      st.dirty = true;
      st.lastMaps = undefined;
      // a package is stored as sparsecell's own archive (the session checkpoint format)
      return {
        family: model.family.name,
        config: model.config,
        modelVersion: model.version,
        adaptation: adaptationBrief(model),
        archive: req.format === 'bioimageio' ? serializeModel(model) : undefined,
      };
    }
    case 'bioimageio':
      return exportPackage(state(req.sessionId), req.image, req.labels, req.meta);
    case 'unload':
      unload(req.sessionId);
      return true;
    case 'crash':
      process.exit(70);
      return undefined;
    case 'memory':
      return { numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes, sessions: sessions.size };
  }
}

const port = parentPort;
if (port) {
  const post = (m: WorkerReply, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);
  // Tasks run strictly one at a time, in arrival order.
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (task: WorkerTask) => {
    chain = chain.then(async () => {
      try {
        const result = await handle(task, post);
        const transfer = result instanceof Uint8Array ? [result.buffer as ArrayBuffer] : [];
        post({ id: task.id, ok: true, result }, transfer);
      } catch (e) {
        const err = e as Error & { code?: string };
        post({
          id: task.id,
          ok: false,
          error: err.message ?? String(e),
          code: err instanceof TaskError ? err.code : err.name === 'AbortError' ? 'RequestCancelled' : undefined,
        });
      }
    });
  });
}
