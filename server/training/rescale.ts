/**
 * Object-diameter rescaling (Cellpose's `diameter`): a family config may give the typical object diameter in
 * pixels; images (and labels) are then scaled by MEAN_DIAMETER / diameter before training and prediction, so the
 * network always sees objects of about MEAN_DIAMETER pixels, and predictions are mapped back. Families without a
 * `diameter` field are never rescaled. A starter-based model may also carry an input adaptation chosen from its
 * sparse labels (training/adapt.ts, meta.adapt.scale); the two factors multiply.
 */
import type { Image2D, Instances } from '../imaging/types.js';
import { resizeImage, resizeLabels, resizeNearest, scaledSize, unscalePolygons } from '../imaging/resize.js';
import type { SegmentationModel } from '../models/segmentation-model.js';
import type { TrainingSample } from './sampler.js';

/** Cellpose's diam_mean for its cyto/nuclei models. */
export const MEAN_DIAMETER = 30;

/** The family's own factor (a Cellpose-like `diameter` in its config), 1 without one. */
export function familyScale(model: Pick<SegmentationModel, 'config'>): number {
  const d = (model.config as { diameter?: number }).diameter;
  return d && d > 0 ? MEAN_DIAMETER / d : 1;
}

/** A starter's input adaptation (training/adapt.ts) resamples by at most this factor either way. */
export const MAX_ADAPT_SCALE = 2;

/** The factor of a starter's input adaptation (meta.adapt.scale, training/adapt.ts), 1 without one. */
export function adaptScale(model: Partial<Pick<SegmentationModel, 'meta'>>): number {
  const s = (model.meta?.adapt as { scale?: unknown } | undefined)?.scale;
  if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) return 1;
  return Math.min(Math.max(s, 1 / MAX_ADAPT_SCALE), MAX_ADAPT_SCALE);
}

/** Images are resampled by this factor before the network: the family's diameter factor times the adaptation's. */
export function modelScale(model: Pick<SegmentationModel, 'config'> & Partial<Pick<SegmentationModel, 'meta'>>): number {
  return familyScale(model) * adaptScale(model);
}

export function rescaleSample(sample: TrainingSample, s: number): TrainingSample {
  if (s === 1) return sample;
  const h = scaledSize(sample.image.height, s),
    w = scaledSize(sample.image.width, s);
  const out: TrainingSample = { image: resizeImage(sample.image, h, w), labels: resizeLabels(sample.labels, h, w) };
  // weights are resized like the labels they go with (nearest), so a correction stroke keeps its weight and edge
  if (sample.weightMultiplier) out.weightMultiplier = resizeNearest(sample.weightMultiplier, sample.image.height, sample.image.width, h, w);
  return out;
}

export function rescaleImage(image: Image2D, s: number): Image2D {
  return s === 1 ? image : resizeImage(image, scaledSize(image.height, s), scaledSize(image.width, s));
}

/** Instances found on the scaled image, back on the original grid (labels nearest, polygons scaled). */
export function unscaleInstances(inst: Instances, s: number, height: number, width: number): Instances {
  if (s === 1) return inst;
  return { labels: resizeLabels(inst.labels, height, width), polygons: unscalePolygons(inst.polygons, s) };
}
