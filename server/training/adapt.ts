/**
 * Input adaptation of a starter model to a person's images, from their sparse labels (README "Starter models").
 *
 * The starters learned bright (fluorescence) nuclei at DSB2018's magnifications. A person's images may show dark
 * nuclei on a bright background (bright-field, absorption) or nuclei at another magnification; a few hundred
 * sparse-label steps do not undo either (bench/results/finetune-*.json). What Cellpose and StarDist users do by hand
 * (`invert`, `diameter`, rescaling the images) is decided here from the labels, once, before the first fine-tuning
 * step:
 *   polarity  labeled object pixels darker on average than labeled background pixels (normalised intensities)
 *             -> the normalised image is inverted (v -> 1 - v, imaging/normalize.ts `invert`);
 *   scale     the starter predicts the labeled objects' surroundings (one window per object, packed into one image)
 *             resampled by each of ADAPT.scales; the scale whose
 *             predictions match the labeled objects best (IoU >= 0.5, false positives = predicted objects lying
 *             mostly on labeled background; unlabeled pixels are ignored) is kept when it beats 1 by ADAPT.margin.
 * The choice is stored in the model (meta.adapt; normalization.invert) and applies wherever the model predicts or
 * trains afterwards (training/rescale.ts modelScale; the archive and the bioimage.io export carry it). A model that
 * has a choice is never re-adapted. Pure apart from the network passes.
 */
import type { Image2D, Labels2D } from '../imaging/types.js';
import { boundingBoxes, cropLabels } from '../imaging/labels.js';
import { extractWindow } from '../imaging/tiling.js';
import { rescaleImage, unscaleInstances, familyScale } from './rescale.js';
import { predictImage } from './predict.js';
import { storedThresholds, type SegmentationModel } from '../models/segmentation-model.js';

export const ADAPT = Object.freeze({
  /** Labeled objects needed before the scale is chosen (fewer: no adaptation yet; live mode tries again later). */
  minObjects: 5,
  /** Labeled object and background pixels needed to judge polarity (fewer: not inverted). */
  minPixels: 50,
  /** Candidate resampling factors (a factor of 2 either way, in steps of sqrt 2; rescale.ts MAX_ADAPT_SCALE). */
  scales: Object.freeze([0.5, 0.71, 1, 1.41, 2]),
  /**
   * A scale below 1 must match the labels better than 1 by this much (fraction of labeled objects); a scale above
   * 1 by upMargin: it costs scale^2 the compute and memory of every later prediction, and on the starters' own
   * images it finds more of the smallest labeled objects while splitting or adding others that sparse labels do
   * not show (bench/results/finetune-*.json, the `none` control).
   */
  margin: 0.1,
  upMargin: 0.2,
  /** Pixels (at scale 1) of the windows around labeled objects that the search predicts at most (in label order). */
  maxPixels: 96 * 1024,
  /** Each object's window reaches this far beyond it (or half its size, if more). */
  minMargin: 16,
  /** Pixels between packed windows. */
  gap: 8,
});

export interface InputAdaptation {
  /** Images are resampled by this factor before the network (predictions are mapped back). */
  scale: number;
  /** The normalised image is inverted (dark objects on a bright background). */
  invert: boolean;
  /** What it was chosen from: labeled objects, mean normalised intensity of labeled object / background pixels. */
  objects: number;
  foreground: number | null;
  background: number | null;
  /**
   * Each candidate scale: labeled objects found / (labeled objects + false positives), and the labeled objects' mean
   * best IoU (the tie-breaker).
   */
  scores: Array<{ scale: number; score: number; iou: number }>;
  /** Wall time of the choice (ms). */
  ms: number;
}

/** The model's adaptation (meta.adapt), if it has a valid one. */
export function adaptationOf(model: Pick<SegmentationModel, 'meta'>): InputAdaptation | undefined {
  const a = model.meta.adapt as Partial<InputAdaptation> | undefined;
  if (!a || typeof a.scale !== 'number' || !(a.scale > 0) || !Number.isFinite(a.scale) || typeof a.invert !== 'boolean') return undefined;
  return a as InputAdaptation;
}

export interface AdaptSample {
  /** Normalised with the model's settings, not inverted. */
  image: Image2D;
  /** Signed sparse labels (-1 unlabeled, 0 background, k > 0 object k). */
  labels: Labels2D;
}

/** Labeled objects and the mean normalised intensity (all channels) of labeled object / background pixels. */
export function labelStats(samples: readonly AdaptSample[]): { objects: number; foreground: number | null; background: number | null } {
  let objects = 0,
    fg = 0,
    fgN = 0,
    bg = 0,
    bgN = 0;
  for (const { image, labels } of samples) {
    const ids = new Set<number>();
    const C = image.channels;
    for (let i = 0; i < labels.data.length; i++) {
      const l = labels.data[i];
      if (l < 0) continue;
      let v = 0;
      for (let c = 0; c < C; c++) v += image.data[i * C + c];
      v /= C;
      if (l === 0) {
        bg += v;
        bgN++;
      } else {
        fg += v;
        fgN++;
        ids.add(l);
      }
    }
    objects += ids.size;
  }
  return {
    objects,
    foreground: fgN >= ADAPT.minPixels ? fg / fgN : null,
    background: bgN >= ADAPT.minPixels ? bg / bgN : null,
  };
}

/**
 * How well a prediction matches sparse labels: labeled objects with a predicted object at IoU >= 0.5 (true
 * positives), and predicted objects with more than half of their pixels on labeled background that match nothing
 * (false positives). Predictions in unlabeled areas count neither way.
 */
export function sparseMatch(labels: Labels2D, pred: Labels2D): { tp: number; fp: number; objects: number; iou: number } {
  const area = new Map<number, number>(),
    predArea = new Map<number, number>(),
    predOnBg = new Map<number, number>(),
    inter = new Map<string, number>();
  for (let i = 0; i < labels.data.length; i++) {
    const l = labels.data[i],
      p = pred.data[i];
    if (l > 0) area.set(l, (area.get(l) ?? 0) + 1);
    if (p > 0) {
      predArea.set(p, (predArea.get(p) ?? 0) + 1);
      if (l === 0) predOnBg.set(p, (predOnBg.get(p) ?? 0) + 1);
      else if (l > 0) inter.set(`${l},${p}`, (inter.get(`${l},${p}`) ?? 0) + 1);
    }
  }
  const matchedPred = new Set<number>();
  const found = new Set<number>();
  const bestIou = new Map<number, number>();
  for (const [key, n] of inter) {
    const [l, p] = key.split(',').map(Number);
    const iou = n / ((area.get(l) ?? 0) + (predArea.get(p) ?? 0) - n);
    bestIou.set(l, Math.max(bestIou.get(l) ?? 0, iou));
    if (iou >= 0.5) {
      found.add(l);
      matchedPred.add(p);
    }
  }
  let fp = 0;
  for (const [p, n] of predOnBg) if (!matchedPred.has(p) && n > 0.5 * (predArea.get(p) ?? 0)) fp++;
  let iou = 0;
  for (const v of bestIou.values()) iou += v;
  return { tp: found.size, fp, objects: area.size, iou };
}

/**
 * One window per labeled object: its bounding box plus a margin of half its size (at least ADAPT.minMargin px),
 * with only that object (relabeled 1) and the labeled background kept; other objects' pixels become unlabeled, so
 * an object cut by the window's edge never counts. At most ADAPT.maxPixels (at scale 1) in all.
 */
export function objectWindows(samples: readonly AdaptSample[]): AdaptSample[] {
  // objects taken in turn from each sample, so that several images have a say within the pixel budget
  const queues = samples.map((smp) => [...boundingBoxes(smp.labels)].map(([id, b]) => ({ smp, id, b })));
  const out: AdaptSample[] = [];
  let px = 0;
  for (let round = 0; queues.some((q) => round < q.length); round++)
    for (const q of queues) {
      if (round >= q.length) continue;
      const { smp, id, b } = q[round];
      const { height: H, width: W } = smp.labels;
      const m = Math.max(ADAPT.minMargin, Math.ceil(Math.max(b.y1 - b.y0, b.x1 - b.x0) / 2));
      const y0 = Math.max(0, b.y0 - m),
        x0 = Math.max(0, b.x0 - m);
      const h = Math.min(H, b.y1 + 1 + m) - y0,
        w = Math.min(W, b.x1 + 1 + m) - x0;
      if (px + h * w > ADAPT.maxPixels) return out;
      px += h * w;
      const lab = cropLabels(smp.labels, y0, x0, h, w);
      for (let i = 0; i < lab.data.length; i++) lab.data[i] = lab.data[i] === id ? 1 : lab.data[i] > 0 ? -1 : lab.data[i];
      out.push({ image: { height: h, width: w, channels: smp.image.channels, data: extractWindow(smp.image, y0, x0, h, w) }, labels: lab });
    }
  return out;
}

/**
 * The windows packed into one image (rows of windows, tallest first, ADAPT.gap px of zeros and unlabeled pixels
 * between them; object k of the result is window k's object), so each candidate scale costs one network pass over
 * the labeled objects' surroundings instead of one per window or over whole images.
 */
export function mosaic(windows: readonly AdaptSample[]): AdaptSample {
  const g = ADAPT.gap;
  const C = windows[0]?.image.channels ?? 1;
  const area = windows.reduce((a, w) => a + (w.image.height + g) * (w.image.width + g), 0);
  const width = Math.max(g + Math.max(0, ...windows.map((w) => w.image.width + g)), Math.ceil(Math.sqrt(area)));
  const order = windows.map((w, k) => ({ w, k })).sort((a, b) => b.w.image.height - a.w.image.height);
  const place: Array<{ y: number; x: number }> = [];
  let x = g,
    y = g,
    rowH = 0;
  for (const { w, k } of order) {
    if (x + w.image.width + g > width) {
      y += rowH + g;
      x = g;
      rowH = 0;
    }
    place[k] = { y, x };
    x += w.image.width + g;
    rowH = Math.max(rowH, w.image.height);
  }
  const height = y + rowH + g;
  const img = new Float32Array(height * width * C),
    lab = new Int32Array(height * width).fill(-1);
  windows.forEach((w, k) => {
    const { y: py, x: px } = place[k];
    const { height: h, width: ww } = w.image;
    for (let r = 0; r < h; r++) {
      img.set(w.image.data.subarray(r * ww * C, (r + 1) * ww * C), ((py + r) * width + px) * C);
      for (let c = 0; c < ww; c++) {
        const v = w.labels.data[r * ww + c];
        lab[(py + r) * width + px + c] = v > 0 ? k + 1 : v;
      }
    }
  });
  return { image: { height, width, channels: C, data: img }, labels: { height, width, data: lab } };
}

const inverted = (im: Image2D): Image2D => ({ ...im, data: im.data.map((v) => 1 - v) });

/**
 * Choose the input adaptation of a starter-based model from its sparse labels. Undefined while fewer than
 * ADAPT.minObjects objects are labeled (nothing to go on yet). The model is not changed (applyAdaptation does that).
 */
export async function chooseAdaptation(
  model: SegmentationModel,
  samples: readonly AdaptSample[],
  opts: { signal?: AbortSignal } = {},
): Promise<InputAdaptation | undefined> {
  const t0 = Date.now();
  const stats = labelStats(samples);
  if (stats.objects < ADAPT.minObjects) return undefined;
  const invert = stats.foreground !== null && stats.background !== null && stats.foreground < stats.background;
  const windows = objectWindows(samples).map((w) => (invert ? { ...w, image: inverted(w.image) } : w));
  const crops = windows.length ? [mosaic(windows)] : [];
  const base = familyScale(model);
  const thresholds = storedThresholds(model);
  const scores: InputAdaptation['scores'] = [];
  const evaluate = async (scale: number) => {
    let tp = 0,
      fp = 0,
      n = 0,
      iou = 0;
    for (const c of crops) {
      const s = base * scale;
      const maps = await predictImage(model, rescaleImage(c.image, s), { normalized: true, signal: opts.signal });
      const inst = unscaleInstances(model.family.postprocess(maps, model.config, thresholds), s, c.image.height, c.image.width);
      const m = sparseMatch(c.labels, inst.labels);
      tp += m.tp;
      fp += m.fp;
      n += m.objects;
      iou += m.iou;
    }
    const r = { scale, score: n + fp > 0 ? tp / (n + fp) : 0, iou: n > 0 ? iou / n : 0 };
    scores.push(r);
    return r;
  };
  // From 1 outwards, one step of sqrt 2 at a time: a direction is followed while each step matches the labels better
  // than the one before by half its direction's margin (so the farthest candidates, the costliest when enlarging, are
  // tried only when the labels point that way).
  const one = await evaluate(1);
  for (const [dir, margin] of [
    [ADAPT.scales.filter((x) => x < 1).reverse(), ADAPT.margin],
    [ADAPT.scales.filter((x) => x > 1), ADAPT.upMargin],
  ] as const) {
    let prev = one;
    for (const scale of dir) {
      const r = await evaluate(scale);
      if (r.score < prev.score + margin / 2) break;
      prev = r;
    }
  }
  scores.sort((x, y) => x.scale - y.scale);
  return { scale: pickScale(scores), invert, objects: stats.objects, foreground: stats.foreground, background: stats.background, scores, ms: Date.now() - t0 };
}

/** The candidate to keep: the best score (then mean IoU) if it beats scale 1 by the margin for its direction, else 1. */
export function pickScale(scores: InputAdaptation['scores']): number {
  const identity = scores.find((s) => s.scale === 1)?.score ?? 0;
  const best = scores.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.iou > a.iou) ? b : a));
  return best.score >= identity + (best.scale > 1 ? ADAPT.upMargin : ADAPT.margin) ? best.scale : 1;
}

/** A model's adaptation as the session reports it (SessionInfo.adaptation), undefined without one. */
export function adaptationBrief(model: Pick<SegmentationModel, 'meta'>): { scale: number; invert: boolean } | undefined {
  const a = adaptationOf(model);
  return a ? { scale: a.scale, invert: a.invert } : undefined;
}

/** Store an adaptation in the model: meta.adapt, and the normalisation's `invert`. */
export function applyAdaptation(model: SegmentationModel, a: InputAdaptation): void {
  model.meta.adapt = a;
  model.normalization = { ...model.normalization, invert: a.invert };
}
