/**
 * Tiled prediction geometry (pure).
 *
 * The image is first padded at the bottom/right (mirror) to multiples of `divisor` (2^depth of the U-Net).
 * Along each axis the padded image is cut into the fewest near-equal CORES (multiples of `divisor`) whose
 * windows fit in `tileSize`; the network sees each core's WINDOW: the core plus `overlap` of context on each
 * side that has a neighbour (none at the image border, where the untiled network sees its own zero padding
 * too), so windows start at multiples of `divisor` (the pooling grid is the same as for the whole image).
 * Only the core of each window's output is kept ("crop", no blending): every pixel comes from exactly one
 * tile, and whenever `overlap` >= the network's receptive half-width, the tiled result equals the untiled one.
 * An axis of n cores computes padded + 2*overlap*(n-1) pixels; with tileSize >= 20*overlap (predict's default)
 * that is at most ~1.1x the axis, so at most 1.3x the pixels of an image (test/imaging/tiling.test.ts).
 */
import type { Image2D } from './types.js';

export interface AxisTile {
  /** Window start and size in padded coordinates. */
  start: number;
  size: number;
  /** Core [coreStart, coreEnd) in image coordinates, to be taken from the window at offset coreStart - start. */
  coreStart: number;
  coreEnd: number;
}

export interface TileGrid {
  paddedHeight: number;
  paddedWidth: number;
  tiles: Array<{ y: AxisTile; x: AxisTile }>;
}

export interface TilingOptions {
  /** Largest window size (rounded down to a multiple of divisor). */
  tileSize: number;
  /** Context kept on each side of a core (rounded up to a multiple of divisor). */
  overlap: number;
  /** Window sizes and starts are multiples of this. */
  divisor: number;
}

const roundUp = (v: number, d: number) => Math.ceil(v / d) * d;

export function axisTiles(length: number, opts: TilingOptions): { padded: number; tiles: AxisTile[] } {
  const d = Math.max(1, Math.floor(opts.divisor));
  if (!(length > 0)) throw new Error(`tiling: length must be > 0 (got ${length})`);
  const padded = roundUp(length, d);
  const overlap = roundUp(Math.max(0, opts.overlap), d);
  const size = Math.floor(opts.tileSize / d) * d;
  if (padded <= size) return { padded, tiles: [{ start: 0, size: padded, coreStart: 0, coreEnd: length }] };
  const maxCore = size - 2 * overlap;
  if (maxCore < d) throw new Error(`tiling: tileSize ${opts.tileSize} leaves no core with overlap ${overlap} (need tileSize >= 2*overlap + ${d})`);
  // n cores of units (divisor-sized blocks) as equal as possible; an interior window (core + 2 overlaps) fits.
  const units = padded / d;
  const n = Math.ceil(padded / maxCore);
  const tiles: AxisTile[] = [];
  let s = 0;
  for (let i = 0; i < n; i++) {
    const core = (Math.floor(units / n) + (i < units % n ? 1 : 0)) * d;
    const start = Math.max(0, s - overlap);
    const end = Math.min(padded, s + core + overlap);
    tiles.push({ start, size: end - start, coreStart: s, coreEnd: Math.min(s + core, length) });
    s += core;
  }
  return { padded, tiles };
}

/** Pixels the network computes for a grid (all windows), to compare with the image's. */
export function computedPixels(grid: TileGrid): number {
  return grid.tiles.reduce((a, t) => a + t.y.size * t.x.size, 0);
}

export function tileGrid(height: number, width: number, opts: TilingOptions): TileGrid {
  const ys = axisTiles(height, opts);
  const xs = axisTiles(width, opts);
  const tiles: TileGrid['tiles'] = [];
  for (const y of ys.tiles) for (const x of xs.tiles) tiles.push({ y, x });
  return { paddedHeight: ys.padded, paddedWidth: xs.padded, tiles };
}

/** Mirror index (numpy 'reflect': edge not repeated) for any integer i. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = ((i % period) + period) % period;
  if (m >= n) m = period - m;
  return m;
}

/** Window [y0, y0+h) x [x0, x0+w) of `image` (coordinates may leave the image: mirrored), channels-last. */
export function extractWindow(image: Image2D, y0: number, x0: number, h: number, w: number): Float32Array {
  const { height: H, width: W, channels: C, data } = image;
  const out = new Float32Array(h * w * C);
  const xi = new Int32Array(w);
  for (let x = 0; x < w; x++) xi[x] = reflectIndex(x0 + x, W);
  const inside = x0 >= 0 && x0 + w <= W;
  for (let y = 0; y < h; y++) {
    const row = reflectIndex(y0 + y, H) * W;
    if (inside) out.set(data.subarray((row + x0) * C, (row + x0 + w) * C), y * w * C);
    else for (let x = 0; x < w; x++) for (let c = 0; c < C; c++) out[(y * w + x) * C + c] = data[(row + xi[x]) * C + c];
  }
  return out;
}

/**
 * Copy the core of a window's output into `out` (the full image map). With grid g > 1 (a network that predicts
 * every g-th pixel) the window's output is (windowH/g) x (windowW/g), `out` is ceil(H/g) x ceil(W/g), and the core
 * is the grid points inside it (window starts and core starts are multiples of the divisor, hence of g).
 */
export function pasteCore(out: Image2D, windowData: Float32Array, tile: { y: AxisTile; x: AxisTile }, grid = 1): void {
  const C = out.channels;
  const g = grid;
  const ww = tile.x.size / g;
  const oy = (tile.y.coreStart - tile.y.start) / g,
    ox = (tile.x.coreStart - tile.x.start) / g;
  const cy0 = tile.y.coreStart / g,
    cy1 = Math.ceil(tile.y.coreEnd / g),
    cx0 = tile.x.coreStart / g;
  const n = (Math.ceil(tile.x.coreEnd / g) - cx0) * C;
  for (let y = cy0; y < cy1; y++) {
    const src = ((y - cy0 + oy) * ww + ox) * C;
    out.data.set(windowData.subarray(src, src + n), (y * out.width + cx0) * C);
  }
}
