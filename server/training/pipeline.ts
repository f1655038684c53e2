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
}

export async function fitModel(items: FitInput[], opts: FitOptions, cb: TrainCallbacks = {}): Promise<{ model: SegmentationModel; result: TrainResult }> {
  const channels = items[0]?.image.channels ?? 1;
  const model = opts.model ?? createModel(opts.family, { inputChannels: channels, ...(opts.config ?? {}) });
  const t = parseTrainOptions(opts.train ?? {});
  const scale = modelScale(model);
  const samples: TrainingSample[] = items.map((it) => rescaleSample({ image: normalizeImage(it.image, model.normalization), labels: it.labels }, scale));
  const sampler = createSampler(model, samples, t);
  const result = await train(model, sampler, t, cb);
  model.version++;
  return { model, result };
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
