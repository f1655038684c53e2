/**
 * Annotation strategies of the sparse-annotation study: turn a DENSE instance mask into the SPARSE signed labels
 * a person would have drawn (−1 unlabeled, 0 background, k instance). Pure and seeded (no fs, no tfjs).
 *
 * Object selection follows ksugar/cellsparse `src/utils.py` (`_get_min_max_label`, `to_sparse`):
 *  - every object of the dense mask gets skimage-regionprops `minor_axis_length` (4·sqrt of the smaller
 *    eigenvalue of the inertia tensor, from second central moments) and `mean_intensity`; objects whose minor axis
 *    is ZERO (single pixels, one-pixel-wide straight lines) are skipped, the rest are "eligible" (n of them);
 *  - kth = min(k_request, n − 1); the kth dimmest and the kth brightest eligible objects are found (cellsparse uses
 *    np.argpartition; we rank with a stable sort on (mean intensity, id) so ties are deterministic);
 *    numpy quirk reproduced: when kth = 0 (n = 1) the "dimmest" set is empty and the "brightest" set is ALL
 *    eligible objects (`a[-0:]` is the whole array);
 *  - `minmax` keeps (kth = k) dimmest ∪ brightest; `min` the dimmest with kth = 2k; `max` the brightest with
 *    kth = 2k; `random` (not in cellsparse) a seeded uniform choice of min(2k, n) eligible objects;
 *    `full` keeps the dense mask as it is (every object, every background pixel);
 *  - intensity: cellsparse min-max normalises each image first (csbdeep normalize 0..100), which does not change the
 *    ranking; multi-channel images are ranked by the mean over channels (skimage would give one value per channel).
 * Background variants:
 *  - `none`: every background pixel stays −1;
 *  - `bg` (cellsparse `_get_bg`, include_bg=True): for every pixel (y, x) of a kept object, the pixel
 *    (clip(y − 10, 0, H − 1), clip(x − 10, 0, W − 1)) becomes background (0) if it is background in the dense mask;
 *    i.e. a copy of each kept object shifted 10 px up and 10 px left, clipped at the border, minus foreground;
 *  - `scribble` (ours, a human-like alternative): SCRIBBLE_DEFAULTS.strokes strokes per image; each starts at a
 *    seeded uniformly chosen dense-background pixel with a seeded direction and walks one pixel per step for
 *    round(lengthFraction · min(H, W)) steps, turning by a seeded Gaussian angle (σ = turnSigma rad) each step; it
 *    stops early at the border or when the centre line reaches a dense object pixel (a person scribbles around
 *    cells); every pixel within the brush (Chebyshev radius brushRadius) of the centre line that is background in
 *    the dense mask becomes 0. Strokes do not depend on which objects are kept.
 * A kept object's pixels are never changed by a background rule (only dense-background pixels become 0).
 */
import type { Image2D, Labels2D } from '../imaging/types.js';
import { rng } from '../imaging/rng.js';

export type Ordering = 'minmax' | 'min' | 'max' | 'random';
export type BgMode = 'none' | 'bg' | 'scribble';

export const ORDERINGS: readonly Ordering[] = ['minmax', 'min', 'max', 'random'];
export const BG_MODES: readonly BgMode[] = ['none', 'bg', 'scribble'];
export const K_VALUES: readonly number[] = [1, 4, 16, 64, 256];
/** cellsparse's include_bg offset (dy, dx). */
export const BG_OFFSET: readonly [number, number] = [-10, -10];

export const SCRIBBLE_DEFAULTS = Object.freeze({
  /** Strokes per image. */
  strokes: 4,
  /** Stroke length as a fraction of min(H, W). */
  lengthFraction: 0.25,
  /** Chebyshev radius of the brush (1 = 3x3 pixels). */
  brushRadius: 1,
  /** Standard deviation of the turn per one-pixel step, radians. */
  turnSigma: 0.15,
});
export type ScribbleOptions = typeof SCRIBBLE_DEFAULTS;

/** One cell of the study grid. `full` has k 'full' (ordering/bg are ignored: the dense mask). */
export type Strategy = { kind: 'full' } | { kind: 'sparse'; ordering: Ordering; k: number; bg: BgMode };

/** Stable, file-name-safe id: "full", "minmax-k16-bg", "random-k1-none", "min-k4-scribble". */
export function strategyId(s: Strategy): string {
  return s.kind === 'full' ? 'full' : `${s.ordering}-k${s.k}-${s.bg}`;
}

export function parseStrategyId(id: string): Strategy {
  if (id === 'full') return { kind: 'full' };
  const m = /^(minmax|min|max|random)-k(\d+)-(none|bg|scribble)$/.exec(id);
  if (!m) throw new Error(`not a strategy id: "${id}" (e.g. full, minmax-k16-bg)`);
  const k = Number(m[2]);
  if (!(k >= 1)) throw new Error(`strategy k must be >= 1 in "${id}"`);
  return { kind: 'sparse', ordering: m[1] as Ordering, k, bg: m[3] as BgMode };
}

/** The study grids: `default` = minmax × K_VALUES × {bg, none} + full (11 cells); `all` = every ordering × bg mode. */
export function studyGrid(grid: 'default' | 'all', ks: readonly number[] = K_VALUES): Strategy[] {
  const orderings: readonly Ordering[] = grid === 'all' ? ORDERINGS : ['minmax'];
  const bgs: readonly BgMode[] = grid === 'all' ? BG_MODES : ['bg', 'none'];
  const out: Strategy[] = [];
  for (const ordering of orderings) for (const bg of bgs) for (const k of ks) out.push({ kind: 'sparse', ordering, k, bg });
  out.push({ kind: 'full' });
  return out;
}

export interface ObjectStats {
  id: number;
  area: number;
  meanIntensity: number;
  /** skimage regionprops minor_axis_length. */
  minorAxisLength: number;
}

/** Per-object statistics of a dense mask (ids ascending, like regionprops). */
export function objectStats(labels: Labels2D, image?: Image2D): ObjectStats[] {
  const { height: H, width: W, data } = labels;
  if (image && (image.height !== H || image.width !== W)) throw new Error(`image ${image.height}x${image.width} != labels ${H}x${W}`);
  const index = new Map<number, number>();
  const ids: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > 0 && !index.has(v)) {
      index.set(v, 0);
      ids.push(v);
    }
  }
  ids.sort((a, b) => a - b);
  ids.forEach((id, j) => index.set(id, j));
  const n = ids.length;
  const cnt = new Float64Array(n),
    sy = new Float64Array(n),
    sx = new Float64Array(n),
    si = new Float64Array(n);
  const C = image?.channels ?? 1;
  for (let y = 0, i = 0; y < H; y++)
    for (let x = 0; x < W; x++, i++) {
      const v = data[i];
      if (v <= 0) continue;
      const j = index.get(v) as number;
      cnt[j]++;
      sy[j] += y;
      sx[j] += x;
      if (image) {
        let s = 0;
        for (let c = 0; c < C; c++) s += image.data[i * C + c];
        si[j] += s / C;
      }
    }
  const myy = new Float64Array(n),
    mxx = new Float64Array(n),
    mxy = new Float64Array(n);
  for (let y = 0, i = 0; y < H; y++)
    for (let x = 0; x < W; x++, i++) {
      const v = data[i];
      if (v <= 0) continue;
      const j = index.get(v) as number;
      const dy = y - sy[j] / cnt[j],
        dx = x - sx[j] / cnt[j];
      myy[j] += dy * dy;
      mxx[j] += dx * dx;
      mxy[j] += dx * dy;
    }
  return ids.map((id, j) => {
    const a = myy[j] / cnt[j],
      c = mxx[j] / cnt[j],
      b = mxy[j] / cnt[j];
    const half = (a + c) / 2,
      r = Math.sqrt(((a - c) / 2) ** 2 + b * b);
    let l2 = half - r;
    // Exact zero for degenerate shapes (skimage clips negative float noise to 0); treat relative noise as zero.
    if (l2 <= 1e-10 * Math.max(half, 1e-300)) l2 = 0;
    return { id, area: cnt[j], meanIntensity: image ? si[j] / cnt[j] : 0, minorAxisLength: 4 * Math.sqrt(l2) };
  });
}

/** Eligible objects (minor axis > 0), ascending by (mean intensity, id). */
function ranked(stats: ObjectStats[]): ObjectStats[] {
  return stats.filter((s) => s.minorAxisLength > 0).sort((p, q) => p.meanIntensity - q.meanIntensity || p.id - q.id);
}

/** cellsparse `_get_min_max_label(lbl, img, kth)`: ids of the dimmest and of the brightest (ascending ids). */
export function minMaxLabels(stats: ObjectStats[], kth: number): { min: number[]; max: number[] } {
  const r = ranked(stats);
  if (r.length === 0) return { min: [], max: [] };
  const kk = Math.min(kth, r.length - 1);
  const ids = (a: ObjectStats[]) => a.map((s) => s.id).sort((p, q) => p - q);
  return { min: ids(r.slice(0, kk)), max: ids(kk === 0 ? r : r.slice(r.length - kk)) };
}

/** Ids kept by an ordering with parameter k (ascending). */
export function selectObjects(stats: ObjectStats[], ordering: Ordering, k: number, seed = 0): number[] {
  switch (ordering) {
    case 'minmax': {
      const { min, max } = minMaxLabels(stats, k);
      return [...new Set([...min, ...max])].sort((a, b) => a - b);
    }
    case 'min':
      return minMaxLabels(stats, 2 * k).min;
    case 'max':
      return minMaxLabels(stats, 2 * k).max;
    case 'random': {
      const ids = stats
        .filter((s) => s.minorAxisLength > 0)
        .map((s) => s.id)
        .sort((a, b) => a - b);
      const rand = rng(seed);
      for (let i = ids.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [ids[i], ids[j]] = [ids[j], ids[i]];
      }
      return ids.slice(0, Math.min(2 * k, ids.length)).sort((a, b) => a - b);
    }
    default:
      throw new Error(`unknown ordering "${ordering as string}"`);
  }
}

/** cellsparse `_get_bg`: mark in `out` (signed sparse labels, edited in place) the shifted copy of the kept objects. */
export function applyOffsetBackground(out: Labels2D, dense: Labels2D, offset: readonly [number, number] = BG_OFFSET): void {
  const { height: H, width: W } = dense;
  const src = out.data.slice();
  for (let y = 0, i = 0; y < H; y++)
    for (let x = 0; x < W; x++, i++) {
      if (src[i] <= 0) continue;
      const yy = Math.min(H - 1, Math.max(0, y + offset[0]));
      const xx = Math.min(W - 1, Math.max(0, x + offset[1]));
      const j = yy * W + xx;
      if (dense.data[j] === 0) out.data[j] = 0;
    }
}

/** Seeded background scribbles (see the module comment); marks dense-background pixels in `out` as 0. */
export function applyScribbles(out: Labels2D, dense: Labels2D, seed: number, opts: Partial<ScribbleOptions> = {}): void {
  const o = { ...SCRIBBLE_DEFAULTS, ...opts };
  const { height: H, width: W, data } = dense;
  const bgIdx: number[] = [];
  for (let i = 0; i < data.length; i++) if (data[i] === 0) bgIdx.push(i);
  if (bgIdx.length === 0) return;
  const rand = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const steps = Math.max(1, Math.round(o.lengthFraction * Math.min(H, W)));
  const r = o.brushRadius;
  const paint = (cy: number, cx: number) => {
    for (let y = Math.max(0, cy - r); y <= Math.min(H - 1, cy + r); y++)
      for (let x = Math.max(0, cx - r); x <= Math.min(W - 1, cx + r); x++) {
        const i = y * W + x;
        if (data[i] === 0) out.data[i] = 0;
      }
  };
  for (let s = 0; s < o.strokes; s++) {
    const start = bgIdx[Math.floor(rand() * bgIdx.length)];
    let py = Math.floor(start / W),
      px = start % W;
    let th = rand() * 2 * Math.PI;
    paint(py, px);
    for (let t = 0; t < steps; t++) {
      th += o.turnSigma * gauss();
      const ny = py + Math.sin(th),
        nx = px + Math.cos(th);
      const iy = Math.round(ny),
        ix = Math.round(nx);
      if (iy < 0 || iy >= H || ix < 0 || ix >= W || data[iy * W + ix] !== 0) break;
      py = ny;
      px = nx;
      paint(iy, ix);
    }
  }
}

export interface AnnotationCost {
  objectsKept: number;
  objectsTotal: number;
  pixelsLabeled: number;
  /** Of which object pixels. */
  objectPixelsLabeled: number;
  backgroundPixelsLabeled: number;
  pixelsTotal: number;
}

export interface SimulatedAnnotation {
  labels: Labels2D;
  keptIds: number[];
  cost: AnnotationCost;
}

/** FNV-1a 32-bit of a string mixed with a seed: a stable per-image seed (independent of the image order). */
export function imageSeed(name: string, seed: number): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Apply one strategy to one dense mask. `seed` drives `random` and `scribble` (use imageSeed). */
export function simulateAnnotation(
  image: Image2D,
  dense: Labels2D,
  strategy: Strategy,
  seed = 0,
  scribble: Partial<ScribbleOptions> = {},
): SimulatedAnnotation {
  const stats = objectStats(dense, image);
  let out: Labels2D;
  let keptIds: number[];
  if (strategy.kind === 'full') {
    out = { height: dense.height, width: dense.width, data: Int32Array.from(dense.data, (v) => (v < 0 ? -1 : v)) };
    keptIds = stats.map((s) => s.id);
  } else {
    keptIds = selectObjects(stats, strategy.ordering, strategy.k, seed);
    const keep = new Set(keptIds);
    const data = new Int32Array(dense.data.length).fill(-1);
    for (let i = 0; i < data.length; i++) if (keep.has(dense.data[i])) data[i] = dense.data[i];
    out = { height: dense.height, width: dense.width, data };
    if (strategy.bg === 'bg') applyOffsetBackground(out, dense);
    else if (strategy.bg === 'scribble') applyScribbles(out, dense, (seed ^ 0x5bd1e995) >>> 0, scribble);
  }
  return { labels: out, keptIds, cost: annotationCost(dense, out, keptIds.length, stats.length) };
}

export function annotationCost(dense: Labels2D, sparse: Labels2D, objectsKept?: number, objectsTotal?: number): AnnotationCost {
  let obj = 0,
    bg = 0;
  const kept = new Set<number>(),
    all = new Set<number>();
  for (let i = 0; i < sparse.data.length; i++) {
    const v = sparse.data[i];
    if (v > 0) {
      obj++;
      kept.add(v);
    } else if (v === 0) bg++;
    if (dense.data[i] > 0) all.add(dense.data[i]);
  }
  return {
    objectsKept: objectsKept ?? kept.size,
    objectsTotal: objectsTotal ?? all.size,
    pixelsLabeled: obj + bg,
    objectPixelsLabeled: obj,
    backgroundPixelsLabeled: bg,
    pixelsTotal: sparse.data.length,
  };
}

/** Sum of per-image costs with the two study fractions. */
export function totalCost(costs: AnnotationCost[]): AnnotationCost & { fractionObjects: number; fractionPixels: number } {
  const t: AnnotationCost = { objectsKept: 0, objectsTotal: 0, pixelsLabeled: 0, objectPixelsLabeled: 0, backgroundPixelsLabeled: 0, pixelsTotal: 0 };
  for (const c of costs) for (const k of Object.keys(t) as (keyof AnnotationCost)[]) t[k] += c[k];
  return { ...t, fractionObjects: t.objectsTotal ? t.objectsKept / t.objectsTotal : 0, fractionPixels: t.pixelsTotal ? t.pixelsLabeled / t.pixelsTotal : 0 };
}
