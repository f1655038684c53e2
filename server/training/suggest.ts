/**
 * model.suggest's compute half (worker and study): predict a view with its context, and its flipped copies
 * (test-time augmentation), map them back, and let imaging/suggest.ts rank what to annotate next.
 */
import type { Image2D, Instances, Labels2D } from '../imaging/types.js';
import { labeledBlockFeatures, rankSuggestions, SUGGEST_DEFAULTS, type RankedSuggestion, type SuggestReason } from '../imaging/suggest.js';
import { storedThresholds, type SegmentationModel } from '../models/segmentation-model.js';
import { defaultOverlap, predictImage } from './predict.js';
import { modelScale, rescaleImage, unscaleInstances } from './rescale.js';

/** Flips of the test-time augmentation, in the order they are used: both axes (180°), then left-right, then up-down. */
const FLIPS: ReadonlyArray<readonly [boolean, boolean]> = [
  [true, true],
  [false, true],
  [true, false],
];
export const MAX_TTA = FLIPS.length;
/** Objects between this fraction of the threshold and the threshold are candidates the model nearly found. */
export const BELOW_FACTOR = 0.5;

export interface SuggestPlaneOptions {
  count?: number;
  probThresh?: number;
  nmsThresh?: number;
  /** Context (px) predicted around the region; default the U-Net's receptive half-width. */
  context?: number;
  /** Flipped views (0-3; default 1: the 180° turn). */
  tta?: number;
  reasons?: readonly SuggestReason[];
  signal?: AbortSignal;
  /** Largest window predicted in one network pass (px). */
  singleWindowPx?: number;
  /** Maps of the plain prediction of a window [y0, x0, y1, x1] made just before (model.predict, a live push): used when
   * the window is this one, which saves one network pass. */
  plainMaps?: { window: [number, number, number, number]; maps: Image2D };
}

function flipImage(im: Image2D, fy: boolean, fx: boolean): Image2D {
  if (!fy && !fx) return im;
  const { height: H, width: W, channels: C } = im;
  const out = new Float32Array(im.data.length);
  for (let y = 0; y < H; y++) {
    const sy = fy ? H - 1 - y : y;
    for (let x = 0; x < W; x++) {
      const sx = fx ? W - 1 - x : x;
      for (let c = 0; c < C; c++) out[(y * W + x) * C + c] = im.data[(sy * W + sx) * C + c];
    }
  }
  return { height: H, width: W, channels: C, data: out };
}

function unflipInstances(inst: Instances, fy: boolean, fx: boolean): Instances {
  if (!fy && !fx) return inst;
  const { height: H, width: W } = inst.labels;
  const data = new Int32Array(H * W);
  for (let y = 0; y < H; y++) {
    const sy = fy ? H - 1 - y : y;
    for (let x = 0; x < W; x++) data[y * W + x] = inst.labels.data[sy * W + (fx ? W - 1 - x : x)];
  }
  const polygons = inst.polygons.map((p) => ({
    ...p,
    points: p.points.map(([y, x]) => [fy ? H - 1 - y : y, fx ? W - 1 - x : x] as [number, number]),
  }));
  return { labels: { height: H, width: W, data }, polygons };
}

/** The probability threshold a family's post-processing uses (request, then the model's stored one, then its config). */
export function effectiveProbThresh(model: SegmentationModel, probThresh?: number): number {
  if (probThresh !== undefined) return probThresh;
  const stored = storedThresholds(model).probThresh;
  if (stored !== undefined) return stored;
  const c = model.config as { probThresh?: number; cellprobThresh?: number; centerThresh?: number };
  if (c.probThresh !== undefined) return c.probThresh;
  if (c.cellprobThresh !== undefined) return 1 / (1 + Math.exp(-c.cellprobThresh));
  return c.centerThresh ?? 0.5;
}

/** Instances of a (normalised) window, predicted on a flipped copy and mapped back; `lowerThresh` also post-processes at it. */
export async function windowInstances(
  model: SegmentationModel,
  win: Image2D,
  flip: readonly [boolean, boolean],
  o: {
    probThresh?: number;
    nmsThresh?: number;
    maxObjects?: number;
    signal?: AbortSignal;
    singleWindowPx?: number;
    lowerThresh?: number;
    /** The network's maps of this (unflipped) window, already computed: no network pass. */
    maps?: Image2D;
  },
): Promise<Instances & { below?: Instances }> {
  const scale = modelScale(model);
  let maps = o.maps;
  if (!maps) {
    const input = rescaleImage(flipImage(win, flip[0], flip[1]), scale);
    const single = input.height * input.width <= (o.singleWindowPx ?? 1536 * 1024);
    maps = await predictImage(model, input, { normalized: true, tileSize: single ? Math.max(input.height, input.width) : undefined, signal: o.signal });
  }
  const m = maps;
  const stored = storedThresholds(model);
  const post = (probThresh?: number) =>
    unflipInstances(
      unscaleInstances(
        model.family.postprocess(m, model.config, { probThresh, nmsThresh: o.nmsThresh ?? stored.nmsThresh, maxObjects: o.maxObjects }),
        scale,
        win.height,
        win.width,
      ),
      flip[0],
      flip[1],
    );
  const inst = post(o.probThresh ?? stored.probThresh);
  return o.lowerThresh !== undefined ? { ...inst, below: post(o.lowerThresh) } : inst;
}

function crop<T extends Float32Array | Int32Array>(data: T, W: number, C: number, y0: number, x0: number, y1: number, x1: number): T {
  const w = x1 - x0;
  const out = new (data.constructor as new (n: number) => T)((y1 - y0) * w * C);
  for (let y = y0; y < y1; y++) out.set(data.subarray((y * W + x0) * C, (y * W + x1) * C), (y - y0) * w * C);
  return out;
}

/**
 * Suggestions for `region` of one plane: `plane` is the normalised image, `labels` its signed sparse labels (whole
 * plane, so the labeled reference covers the whole image). Regions come back in plane coordinates, best first.
 */
export async function suggestOnPlane(
  model: SegmentationModel,
  plane: Image2D,
  labels: Labels2D,
  region: [number, number, number, number],
  o: SuggestPlaneOptions = {},
): Promise<RankedSuggestion[]> {
  const { height: H, width: W, channels: C } = plane;
  const ctx = o.context ?? defaultOverlap(model.unet.config.depth);
  const [y0, x0, y1, x1] = region;
  const ey0 = Math.max(0, y0 - ctx),
    ex0 = Math.max(0, x0 - ctx),
    ey1 = Math.min(H, y1 + ctx),
    ex1 = Math.min(W, x1 + ctx);
  const win: Image2D =
    ey1 - ey0 === H && ex1 - ex0 === W ? plane : { height: ey1 - ey0, width: ex1 - ex0, channels: C, data: crop(plane.data, W, C, ey0, ex0, ey1, ex1) };
  const winLabels: Labels2D = { height: win.height, width: win.width, data: crop(labels.data, W, 1, ey0, ex0, ey1, ex1) };
  const p = { probThresh: o.probThresh, nmsThresh: o.nmsThresh, signal: o.signal, singleWindowPx: o.singleWindowPx };
  const probThresh = effectiveProbThresh(model, o.probThresh);
  const w = o.plainMaps?.window;
  const reuse = w && w[0] === ey0 && w[1] === ex0 && w[2] === ey1 && w[3] === ex1 ? o.plainMaps!.maps : undefined;
  const pred = await windowInstances(model, win, [false, false], { ...p, lowerThresh: probThresh * BELOW_FACTOR, maps: reuse });
  const tta: Instances[] = [];
  for (const flip of FLIPS.slice(0, Math.max(0, Math.min(MAX_TTA, o.tta ?? 1)))) tta.push(await windowInstances(model, win, flip, p));
  const ranked = rankSuggestions(
    {
      image: win,
      labels: winLabels,
      pred,
      below: pred.below,
      tta,
      region: [y0 - ey0, x0 - ex0, y1 - ey0, x1 - ex0],
      probThresh,
      reference: labeledBlockFeatures(plane, labels, SUGGEST_DEFAULTS.blockSize),
    },
    { count: o.count ?? SUGGEST_DEFAULTS.count, ...(o.reasons ? { reasons: o.reasons } : {}) },
  );
  return ranked.map((s) => ({
    ...s,
    region: [s.region[0] + ey0, s.region[1] + ex0, s.region[2] + ey0, s.region[3] + ex0],
    ...(s.polygon ? { polygon: s.polygon.map(([y, x]) => [y + ey0, x + ex0] as [number, number]) } : {}),
  }));
}
