/**
 * StarDist-like post-processing (pure): object probabilities + star distances -> instances.
 *
 * 1. Candidates: pixels with prob > probThresh (strictly, like stardist), at least `b` pixels away from the
 *    image border (stardist's default b = 2).
 * 2. Each candidate is the star polygon of its distances (vertex r at angle 2*pi*r/nRays, [y + d sin, x + d cos]).
 * 3. Greedy NMS in order of decreasing score, as stardist's non_maximum_suppression: a candidate is dropped
 *    when its overlap with an already KEPT polygon, intersection / min(area_kept, area_candidate), exceeds
 *    nmsThresh (stardist's overlap measure, not IoU). Areas and intersections are counted in pixels of the
 *    rasterised polygons (stardist uses Clipper on integer-rounded vertices; both are approximations of the
 *    continuous areas at the scale of one pixel). Speed: every candidate is rasterised once against a canvas
 *    that records which kept polygons cover each pixel, so the cost is O(sum of candidate areas), with no
 *    pairwise polygon clipping; 2048x2048 maps take well under seconds-per-megapixel.
 *    With config.grid g > 1 the maps are at 1/g resolution (StarDist's grid): the candidate at map pixel (i, j)
 *    (b counted in map pixels, as stardist) is the polygon around image pixel (g*i, g*j), its distances already in
 *    image pixels; NMS and rendering work at the image's resolution (maps.fullHeight x maps.fullWidth).
 * 4. Rendering as stardist's polygons_to_label: kept polygons get ids 1..n by decreasing score and are
 *    painted lowest score first, so higher scores win where they overlap. Polygons whose pixels are all
 *    painted over are dropped from the output (their id then does not occur).
 */
import type { Image2D, Instance, Instances, Polygon } from '../../imaging/types.js';
import type { PostprocessOptions } from '../model-family.js';
import { polygonSpansFlat } from '../../imaging/polygon.js';
import type { StarDistConfig } from './config.js';

export interface StarDistPostprocessOptions extends PostprocessOptions {
  /** Ignore candidates closer than b pixels to the image border (stardist default 2). */
  b?: number;
}

/** Kept polygon before rendering. */
interface Kept {
  y: number;
  x: number;
  score: number;
  area: number;
  vy: Float64Array;
  vx: Float64Array;
}

type StarDistPostConfig = Pick<StarDistConfig, 'nRays' | 'probThresh' | 'nmsThresh'> & { grid?: number };

/** The image size the maps belong to: maps.fullHeight/fullWidth when set, else grid times the maps. */
function imageSize(maps: Image2D, grid: number): [number, number] {
  return [maps.fullHeight ?? maps.height * grid, maps.fullWidth ?? maps.width * grid];
}

export function postprocess(maps: Image2D, config: StarDistPostConfig, opts: StarDistPostprocessOptions = {}): Instances {
  const probThresh = opts.probThresh ?? config.probThresh;
  const max = opts.maxObjects ?? Infinity;
  const g = config.grid ?? 1;
  const kept = suppress(maps, config.nRays, probThresh, opts.nmsThresh ?? config.nmsThresh, opts.b, g, max + 1);
  const truncated = kept.length > max;
  if (truncated) kept.length = max;
  const [H, W] = imageSize(maps, g);
  return { ...render(kept, H, W, config.nRays), ...(truncated ? { truncated } : {}) };
}

/**
 * postprocess() at every point of a threshold grid, equal to calling it once per point but with one NMS per
 * distinct nmsThresh: candidates are visited in decreasing score, so those above a higher probability
 * threshold are a prefix of those above the lowest one, and greedy NMS on a prefix keeps exactly the kept
 * polygons of that prefix. (Used to choose thresholds on validation images.)
 */
export function postprocessGrid(maps: Image2D, config: StarDistPostConfig, grid: StarDistPostprocessOptions[]): Instances[] {
  const out: Instances[] = new Array(grid.length);
  const g = config.grid ?? 1;
  const [H, W] = imageSize(maps, g);
  const groups = new Map<string, number[]>();
  grid.forEach((g, i) => {
    const key = `${g.nmsThresh ?? config.nmsThresh}|${g.b ?? 2}`;
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  });
  for (const idx of groups.values()) {
    const first = grid[idx[0]];
    const lowest = Math.min(...idx.map((i) => grid[i].probThresh ?? config.probThresh));
    const kept = suppress(maps, config.nRays, lowest, first.nmsThresh ?? config.nmsThresh, first.b, g);
    for (const i of idx) {
      const p = grid[i].probThresh ?? config.probThresh;
      let n = 0;
      while (n < kept.length && kept[n].score > p) n++;
      out[i] = render(kept.slice(0, n), H, W, config.nRays);
    }
  }
  return out;
}

/** Steps 1-3: candidates above probThresh, greedy NMS; kept polygons in decreasing score (at most maxKept). */
function suppress(maps: Image2D, nRays: number, probThresh: number, nmsThresh: number, bOpt: number | undefined, grid: number, maxKept = Infinity): Kept[] {
  const { height: MH, width: MW, channels: C, data } = maps;
  if (C !== 1 + nRays) throw new Error(`postprocess: maps have ${C} channels, expected 1 + nRays = ${1 + nRays}`);
  if (data.length !== MH * MW * C) throw new Error(`postprocess: maps data has ${data.length} values, expected ${MH * MW * C}`);
  const [H, W] = imageSize(maps, grid);
  if (Math.ceil(H / grid) !== MH || Math.ceil(W / grid) !== MW)
    throw new Error(`postprocess: maps ${MH}x${MW} do not belong to a ${H}x${W} image at grid ${grid}`);
  const b = Math.max(0, Math.floor(bOpt ?? 2));

  // 1. candidates (map pixels)
  const cand: number[] = [];
  for (let y = b; y < MH - b; y++)
    for (let x = b; x < MW - b; x++) {
      const m = y * MW + x;
      if (data[m * C] > probThresh) cand.push(m);
    }
  const order = Int32Array.from(cand);
  order.sort((p, q) => data[q * C] - data[p * C] || p - q);

  // 2.-3. greedy NMS against a coverage canvas of kept polygons
  const owner = new Int32Array(H * W); // 1 + index of the first kept polygon covering the pixel, 0 = none
  const extra = new Map<number, number[]>(); // pixel -> further kept polygons covering it (rare)
  const kept: Kept[] = [];
  let counts = new Int32Array(64);
  const touched: number[] = [];
  const sin = new Float64Array(nRays),
    cos = new Float64Array(nRays);
  for (let r = 0; r < nRays; r++) {
    sin[r] = Math.sin((2 * Math.PI * r) / nRays);
    cos[r] = Math.cos((2 * Math.PI * r) / nRays);
  }
  const vy = new Float64Array(nRays),
    vx = new Float64Array(nRays);
  const spans: number[] = [];
  const collect = (y: number, x0: number, x1: number) => {
    spans.push(y * W + x0, y * W + x1);
  };

  for (let k = 0; k < order.length && kept.length < maxKept; k++) {
    const m = order[k];
    const my = Math.floor(m / MW);
    const py = grid * my,
      px = grid * (m - my * MW);
    const o = m * C + 1;
    for (let r = 0; r < nRays; r++) {
      const d0 = data[o + r];
      const d = d0 > 0 ? d0 : 0; // negative / NaN distances -> 0
      vy[r] = py + d * sin[r];
      vx[r] = px + d * cos[r];
    }
    spans.length = 0;
    polygonSpansFlat(vy, vx, nRays, H, W, collect);
    let area = 0;
    for (let s = 0; s < spans.length; s += 2) {
      const e = spans[s + 1];
      area += e - spans[s] + 1;
      for (let q = spans[s]; q <= e; q++) {
        const ow = owner[q];
        if (ow === 0) continue;
        if (counts[ow - 1]++ === 0) touched.push(ow - 1);
        if (extra.size > 0) {
          const more = extra.get(q);
          if (more) for (const m of more) if (counts[m]++ === 0) touched.push(m);
        }
      }
    }
    let suppressed = area === 0;
    for (const i of touched) {
      if (!suppressed && counts[i] / Math.min(kept[i].area, area) > nmsThresh) suppressed = true;
      counts[i] = 0;
    }
    touched.length = 0;
    if (suppressed) continue;
    const idx = kept.length;
    kept.push({ y: py, x: px, score: data[m * C], area, vy: vy.slice(), vx: vx.slice() });
    if (kept.length > counts.length) {
      const c2 = new Int32Array(2 * counts.length);
      c2.set(counts);
      counts = c2;
    }
    for (let s = 0; s < spans.length; s += 2) {
      const e = spans[s + 1];
      for (let q = spans[s]; q <= e; q++) {
        if (owner[q] === 0) owner[q] = idx + 1;
        else {
          const more = extra.get(q);
          if (more) more.push(idx);
          else extra.set(q, [idx]);
        }
      }
    }
  }

  return kept;
}

/** Step 4: render, lowest score first; ids 1..n by decreasing score. */
function render(kept: Kept[], H: number, W: number, nRays: number): Instances {
  const labels = new Int32Array(H * W);
  for (let i = kept.length - 1; i >= 0; i--) {
    const id = i + 1;
    polygonSpansFlat(kept[i].vy, kept[i].vx, nRays, H, W, (y, x0, x1) => labels.fill(id, y * W + x0, y * W + x1 + 1));
  }
  const present = new Uint8Array(kept.length + 1);
  for (let q = 0; q < labels.length; q++) present[labels[q]] = 1;
  const polygons: Instance[] = [];
  for (let i = 0; i < kept.length; i++) {
    if (!present[i + 1]) continue;
    const kp = kept[i];
    const points: Polygon = new Array(nRays);
    for (let r = 0; r < nRays; r++) points[r] = [kp.vy[r], kp.vx[r]];
    polygons.push({ id: i + 1, score: kp.score, points });
  }
  return { labels: { height: H, width: W, data: labels }, polygons };
}

/**
 * Pack a probability map and star distances (H*W and H*W*nRays) into the maps layout postprocess takes:
 * channels [prob, d_1..d_nRays]. Handy for tests and for engines that keep the two heads separate.
 */
export function packMaps(prob: Float32Array, dist: Float32Array, height: number, width: number, nRays: number): Image2D {
  const C = 1 + nRays;
  const data = new Float32Array(height * width * C);
  for (let p = 0; p < height * width; p++) {
    data[p * C] = prob[p];
    data.set(dist.subarray(p * nRays, (p + 1) * nRays), p * C + 1);
  }
  return { height, width, channels: C, data };
}
