/**
 * In-process fit / segment for the CLI, the study and the benchmarks (the daemon uses the worker instead).
 * The tensor backend must be initialised by the caller (server/main.ts or a bench entry).
 */
import type { Image2D, Instances, Labels2D } from '../imaging/types.js';
import { normalizeImage } from '../imaging/normalize.js';
import { createModel, type SegmentationModel } from '../models/segmentation-model.js';
import type { PostprocessOptions } from '../models/model-family.js';
import { parseTrainOptions, type TrainOptions } from './config.js';
import type { TrainingSample } from './sampler.js';
import { createSampler, train, type TrainCallbacks, type TrainResult } from './train.js';
import { predictImage } from './predict.js';
import { modelScale, rescaleImage, rescaleSample, unscaleInstances } from './rescale.js';
import { adaptationOf, applyAdaptation, chooseAdaptation, type InputAdaptation } from './adapt.js';

export interface FitInput {
  /** Raw images (normalised here with the model's settings). */
  image: Image2D;
  /** Signed sparse labels. */
  labels: Labels2D;
}

export interface FitOptions {
  family: string;
  config?: Record<string, unknown>;
  train?: Partial<TrainOptions>;
  /** Continue training this model instead of creating one. */
  model?: SegmentationModel;
  /**
   * The model began from a starter: before the first step, choose its input adaptation (polarity, scale) from the
   * labels if it has none yet (training/adapt.ts).
   */
  adapt?: boolean;
}

/**
 * A starter-based model's input adaptation from sparse labels, chosen and stored in the model when it has none yet
 * and enough objects are labeled. Returns the adaptation chosen now (undefined: none chosen now).
 */
export async function adaptToLabels(model: SegmentationModel, items: FitInput[], opts: { signal?: AbortSignal } = {}): Promise<InputAdaptation | undefined> {
  if (adaptationOf(model)) return undefined;
  const plain = { ...model.normalization, invert: false };
  const a = await chooseAdaptation(
    model,
    items.map((it) => ({ image: normalizeImage(it.image, plain), labels: it.labels })),
    opts,
  );
  if (a) applyAdaptation(model, a);
  return a;
}

export async function fitModel(
  items: FitInput[],
  opts: FitOptions,
  cb: TrainCallbacks = {},
): Promise<{ model: SegmentationModel; result: TrainResult; adaptation?: InputAdaptation }> {
  const channels = items[0]?.image.channels ?? 1;
  const model = opts.model ?? createModel(opts.family, { inputChannels: channels, ...(opts.config ?? {}) });
  const t = parseTrainOptions(opts.train ?? {});
  const adaptation = opts.adapt ? await adaptToLabels(model, items) : undefined;
  const scale = modelScale(model);
  const samples: TrainingSample[] = items.map((it) => rescaleSample({ image: normalizeImage(it.image, model.normalization), labels: it.labels }, scale));
  const sampler = createSampler(model, samples, t);
  const result = await train(model, sampler, t, cb);
  model.version++;
  return { model, result, ...(adaptation ? { adaptation } : {}) };
}

/** The network's activated maps for one image, in model space, ready to post-process at any thresholds. */
export interface PredictedMaps {
  maps: Image2D;
  scale: number;
  height: number;
  width: number;
}

export async function predictMaps(
  model: SegmentationModel,
  image: Image2D,
  opts: { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void } = {},
): Promise<PredictedMaps> {
  const scale = modelScale(model);
  const input = rescaleImage(normalizeImage(image, model.normalization), scale);
  const maps = await predictImage(model, input, { normalized: true, signal: opts.signal, onProgress: opts.onProgress });
  return { maps, scale, height: image.height, width: image.width };
}

/** Instances at the input image's size from predicted maps. */
export function postprocessMaps(model: SegmentationModel, p: PredictedMaps, opts: PostprocessOptions = {}): Instances {
  return unscaleInstances(model.family.postprocess(p.maps, model.config, opts), p.scale, p.height, p.width);
}

/** Normalise, predict tiled, post-process. */
export async function segment(
  model: SegmentationModel,
  image: Image2D,
  opts: PostprocessOptions & { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void } = {},
): Promise<Instances> {
  const maps = await predictMaps(model, image, { signal: opts.signal, onProgress: opts.onProgress });
  return postprocessMaps(model, maps, { probThresh: opts.probThresh, nmsThresh: opts.nmsThresh });
}
