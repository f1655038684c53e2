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
import { modelScale, rescaleSample } from './rescale.js';
import { postprocessMaps, predictMaps } from './thresholds.js';

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

/** Normalise, predict tiled, post-process. */
export async function segment(model: SegmentationModel, image: Image2D, opts: PostprocessOptions & { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void } = {}): Promise<Instances> {
  const maps = await predictMaps(model, image, { signal: opts.signal, onProgress: opts.onProgress });
  return postprocessMaps(model, maps, { probThresh: opts.probThresh, nmsThresh: opts.nmsThresh });
}

