/**
 * Tiled prediction for any image size (see imaging/tiling.ts for the geometry): normalise (unless told the
 * image already is), mirror-pad to multiples of 2^depth, run the U-Net window by window, activate, and paste
 * each window's core into the full map. The caller runs family.postprocess on the result. A network with an output
 * grid g > 1 (StarDist's grid) gives maps of ceil(H/g) x ceil(W/g) with fullHeight/fullWidth = H, W; its tiles start
 * at multiples of g * 2^depth, so every tile sees the same pooling grid as the whole image.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Image2D } from '../imaging/types.js';
import { normalizeImage } from '../imaging/normalize.js';
import { extractWindow, pasteCore, tileGrid } from '../imaging/tiling.js';
import type { SegmentationModel } from '../models/segmentation-model.js';
import { unetForward } from '../models/unet/unet.js';
import { graphInferenceAvailable, graphRunner } from './graph-predict.js';
import { unetDivisor } from '../models/unet/config.js';

export interface PredictOptions {
  /** Largest window side (default defaultTileSize(overlap); rounded down to a multiple of 2^depth). */
  tileSize?: number;
  /** Context per side of each core (default: the U-Net's receptive half-width, see defaultOverlap). */
  overlap?: number;
  /** The image is already normalised (skip model.normalization). */
  normalized?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number }) => void;
}

export const DEFAULT_TILE_SIZE = 512;

/**
 * Images of at least this many pixels run through a TensorFlow graph session on the tensorflow backend
 * (training/graph-predict.ts: ~1.4x faster per pixel than the eager forward, but building a session for new weights and
 * its first run cost a few hundred ms, which a small live-mode view would not win back).
 */
export const GRAPH_MIN_PIXELS = 1 << 20;
/** Largest window side on the graph path: a 2048^2 image in one window (no overlap recomputed), ~3 GB at its peak. */
export const GRAPH_TILE_SIZE = 2048;

/**
 * Largest window side by default: 20 overlaps (1280 px for a depth-3 U-Net), so that the context around
 * interior cores costs at most ~1.1x per axis (<= 1.3x the image's pixels), and never below DEFAULT_TILE_SIZE.
 */
export function defaultTileSize(overlap: number): number {
  return Math.max(DEFAULT_TILE_SIZE, 20 * overlap);
}

/**
 * Receptive half-width bound of the U-Net (2 convs per level): 8 * grid * 2^depth, a multiple of the divisor (an
 * output grid g runs the whole U-Net at 1/g resolution, which scales its reach by g; the stem adds 3 px).
 */
export function defaultOverlap(depth: number, grid = 1): number {
  return 8 * grid * 2 ** depth;
}

export class PredictionAbortedError extends Error {
  constructor() {
    super('prediction aborted');
    this.name = 'AbortError';
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** How predictImage runs an image of this size here: through the graph session or eagerly, and its windows. */
export function predictTiling(model: SegmentationModel, height: number, width: number, opts: Pick<PredictOptions, 'tileSize' | 'overlap'> = {}) {
  const cfg = model.unet.config;
  const overlap = opts.overlap ?? defaultOverlap(cfg.depth, cfg.grid);
  const graph = graphInferenceAvailable() && height * width >= GRAPH_MIN_PIXELS;
  const tileSize = opts.tileSize ?? Math.max(defaultTileSize(overlap), graph ? GRAPH_TILE_SIZE : 0);
  return { graph, grid: tileGrid(height, width, { tileSize, overlap, divisor: unetDivisor(cfg) }) };
}

/** Activated maps [H, W, outputChannels] for one image ([ceil(H/g), ceil(W/g), ...] with an output grid g). */
export async function predictImage(model: SegmentationModel, image: Image2D, opts: PredictOptions = {}): Promise<Image2D> {
  const cfg = model.unet.config;
  if (image.channels !== cfg.inputChannels) throw new Error(`predict: image has ${image.channels} channels, model expects ${cfg.inputChannels}`);
  const input = opts.normalized ? image : normalizeImage(image, model.normalization);
  const { graph, grid } = predictTiling(model, image.height, image.width, opts);
  const C = cfg.outputChannels;
  const g = cfg.grid;
  const gh = Math.ceil(image.height / g),
    gw = Math.ceil(image.width / g);
  // One window that is exactly the image (no padding): its maps are the result, without a copy.
  const whole = (t: (typeof grid.tiles)[number]) => grid.tiles.length === 1 && t.y.start === 0 && t.x.start === 0 && t.y.size === gh * g && t.x.size === gw * g;
  const out: Image2D = { height: gh, width: gw, channels: C, data: whole(grid.tiles[0]) ? new Float32Array(0) : new Float32Array(gh * gw * C) };
  if (g > 1) {
    out.fullHeight = image.height;
    out.fullWidth = image.width;
  }
  const runGraph = graph ? graphRunner(model) : undefined;
  let done = 0;
  for (const tile of grid.tiles) {
    if (opts.signal?.aborted) throw new PredictionAbortedError();
    const h = tile.y.size,
      w = tile.x.size;
    const win = extractWindow(input, tile.y.start, tile.x.start, h, w);
    const mapsT = tf.tidy(() => {
      const x = tf.tensor4d(win, [1, h, w, cfg.inputChannels]);
      return runGraph?.(x) ?? model.family.activate(unetForward(model.unet, x), model.config);
    });
    const maps = (await mapsT.data()) as Float32Array;
    mapsT.dispose();
    if (whole(tile)) out.data = maps;
    else pasteCore(out, maps, tile, g);
    done++;
    opts.onProgress?.({ done, total: grid.tiles.length });
    await yieldToEventLoop();
  }
  return out;
}
