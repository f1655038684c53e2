/**
 * Object-diameter rescaling (Cellpose's `diameter`): a family config may give the typical object diameter in
 * pixels; images (and labels) are then scaled by MEAN_DIAMETER / diameter before training and prediction, so the
 * network always sees objects of about MEAN_DIAMETER pixels, and predictions are mapped back. Families without a
 * `diameter` field are never rescaled.
 */
import type { Image2D, Instances } from '../imaging/types.js';
import { resizeImage, resizeLabels, resizeNearest, scaledSize, unscalePolygons } from '../imaging/resize.js';
import type { SegmentationModel } from '../models/segmentation-model.js';
import type { TrainingSample } from './sampler.js';

/** Cellpose's diam_mean for its cyto/nuclei models. */
export const MEAN_DIAMETER = 30;

export function modelScale(model: Pick<SegmentationModel, 'config'>): number {
  const d = (model.config as { diameter?: number }).diameter;
  return d && d > 0 ? MEAN_DIAMETER / d : 1;
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
