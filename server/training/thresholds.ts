/**
 * Post-processing thresholds chosen on validation images, as StarDist's `optimize_thresholds` does: predict
 * each validation image once, post-process it at every point of a small grid (probability threshold, and the
 * NMS IoU threshold for polygon families), keep the point with the best pooled accuracy at IoU 0.5.
 * Used by the quality benchmark and the study; the validation images need dense masks and must not be trained on.
 */
import type { Image2D, Instances, Labels2D } from '../imaging/types.js';
import { matchingDataset } from '../metrics/matching.js';
import type { PostprocessOptions } from '../models/model-family.js';
import type { SegmentationModel } from '../models/segmentation-model.js';
import { predictMaps, type PredictedMaps } from './pipeline.js';
import { unscaleInstances } from './rescale.js';

/** Probability thresholds tried (family meaning: StarDist object probability, Cellpose cell probability, ELEPHANT centre). */
export const PROB_GRID: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
/** NMS IoU thresholds tried for the StarDist-like family. */
export const NMS_GRID: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];

/** postprocessMaps at every grid point (the family's shared-work grid post-processing when it has one). */
export function postprocessMapsGrid(model: SegmentationModel, p: PredictedMaps, grid: PostprocessOptions[]): Instances[] {
  const f = model.family;
  const all = f.postprocessGrid ? f.postprocessGrid(p.maps, model.config, grid) : grid.map((g) => f.postprocess(p.maps, model.config, g));
  return all.map((inst) => unscaleInstances(inst, p.scale, p.height, p.width));
}

export interface ThresholdChoice extends PostprocessOptions {
  /** Pooled accuracy at IoU 0.5 on the validation images at the chosen point. */
  accuracy: number;
  /** Every grid point tried. */
  grid: Array<PostprocessOptions & { accuracy: number }>;
  /** Thresholds whose chosen value is the lowest or highest of its grid (then the grid should be wider). */
  atEdge: Array<'probThresh' | 'nmsThresh'>;
}

/** The grid of threshold settings for a family (PROB_GRID x NMS_GRID for stardist, PROB_GRID otherwise). */
export function thresholdGrid(family: string): PostprocessOptions[] {
  return PROB_GRID.flatMap((probThresh) => (family === 'stardist' ? NMS_GRID.map((nmsThresh) => ({ probThresh, nmsThresh })) : [{ probThresh }]));
}

/**
 * Choose thresholds on validation images (dense labels). Ties keep the earlier grid point. Maps are predicted
 * one image at a time and post-processed at every grid point before the next image, so memory holds one map.
 */
export async function tuneThresholds(
  model: SegmentationModel,
  items: Array<{ image: Image2D; labels: Labels2D }>,
  opts: { signal?: AbortSignal; onImage?: (done: number, total: number) => void } = {},
): Promise<ThresholdChoice> {
  const grid = thresholdGrid(model.family.name);
  const preds: Labels2D[][] = grid.map(() => []);
  for (const [i, it] of items.entries()) {
    if (opts.signal?.aborted) throw new Error('aborted');
    const p = await predictMaps(model, it.image, { signal: opts.signal });
    postprocessMapsGrid(model, p, grid).forEach((inst, j) => preds[j].push(inst.labels));
    opts.onImage?.(i + 1, items.length);
  }
  const gts = items.map((it) => it.labels);
  const tried = grid.map((g, j) => ({ ...g, accuracy: matchingDataset(gts, preds[j], 0.5).accuracy }));
  let best = tried[0];
  for (const t of tried) if (t.accuracy > best.accuracy) best = t;
  const atEdge: ThresholdChoice['atEdge'] = [];
  const edge = (v: number | undefined, g: readonly number[]) => v !== undefined && (v === g[0] || v === g[g.length - 1]);
  if (edge(best.probThresh, PROB_GRID)) atEdge.push('probThresh');
  if (edge(best.nmsThresh, NMS_GRID)) atEdge.push('nmsThresh');
  return { ...best, grid: tried, atEdge };
}
