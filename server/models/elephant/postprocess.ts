/**
 * ELEPHANT-like post-processing (pure): class probabilities -> instance masks and polygons.
 *
 * Input maps (what `activate` produces), H*W*3 channels-last: softmax PROBABILITIES [bg, border, centre].
 *
 *  1. seeds: 8-connected components of centre probability > centerThresh (opts.probThresh overrides it);
 *     components smaller than minCenterSize are dropped;
 *  2. growing: marker-based watershed (priority flood, 4-connected) from the seeds into the pixels with
 *     border + centre probability > foregroundThresh (seed pixels always belong to their seed), visiting
 *     pixels by decreasing centre probability, ties in first-come order (so flat border regions are split
 *     between touching objects by geodesic distance). Each seed grows only inside its REACH: the seed's
 *     moment ellipse scaled by GROW_REACH / centerRatio (the targets make the centre the object's ellipse
 *     scaled by centerRatio), widened by one pixel. Without it a seed crawled along any thin strip of
 *     foreground: an under-trained model's one-pixel rim of "border" along the image edges made the nucleus
 *     that touched it an object around the whole frame (the frame-sized polygon once seen in the napari
 *     screenshot). Foreground never reached from a seed is dropped;
 *  3. objects smaller than minSize are removed, holes filled, ids 1..n;
 *  4. polygons by contour tracing; score = mean foreground probability (1 - p_bg) over the object.
 */
import type { Image2D, Instances } from '../../imaging/types.js';
import type { PostprocessOptions } from '../model-family.js';
import { fillHolesAndRemoveSmall, toInstances } from '../cellpose/instances.js';
import type { ElephantConfig } from './config.js';

const DY8 = [-1, -1, -1, 0, 0, 1, 1, 1];
const DX8 = [-1, 0, 1, -1, 1, -1, 0, 1];

/** Min-heap of (key, order, pixel) triples: smallest key first, then smallest order. */
class Heap {
  private key: number[] = [];
  private ord: number[] = [];
  private pix: number[] = [];
  get size(): number {
    return this.key.length;
  }
  private less(i: number, j: number): boolean {
    return this.key[i] < this.key[j] || (this.key[i] === this.key[j] && this.ord[i] < this.ord[j]);
  }
  private swap(i: number, j: number): void {
    [this.key[i], this.key[j]] = [this.key[j], this.key[i]];
    [this.ord[i], this.ord[j]] = [this.ord[j], this.ord[i]];
    [this.pix[i], this.pix[j]] = [this.pix[j], this.pix[i]];
  }
  push(key: number, ord: number, pix: number): void {
    this.key.push(key);
    this.ord.push(ord);
    this.pix.push(pix);
    let i = this.key.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): number {
    const top = this.pix[0];
    const last = this.key.length - 1;
    this.swap(0, last);
    this.key.pop();
    this.ord.pop();
    this.pix.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1,
        r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

/** Seeds: 8-connected components of `mask` with at least `minSize` pixels, labelled 1..n. */
export function seedComponents(mask: Uint8Array, H: number, W: number, minSize: number): { seeds: Int32Array; n: number } {
  const seeds = new Int32Array(H * W);
  let n = 0;
  const members: number[] = [];
  for (let i0 = 0; i0 < H * W; i0++) {
    if (!mask[i0] || seeds[i0]) continue;
    const id = ++n;
    seeds[i0] = id;
    members.length = 0;
    const stack = [i0];
    while (stack.length) {
      const q = stack.pop()!;
      members.push(q);
      const y = (q / W) | 0,
        x = q - y * W;
      for (let d = 0; d < 8; d++) {
        const yy = y + DY8[d],
          xx = x + DX8[d];
        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
        const r = yy * W + xx;
        if (mask[r] && !seeds[r]) {
          seeds[r] = id;
          stack.push(r);
        }
      }
    }
    if (members.length < minSize) {
      for (const q of members) seeds[q] = -1; // visited, but no seed
      n--;
    }
  }
  for (let i = 0; i < H * W; i++) if (seeds[i] < 0) seeds[i] = 0;
  // ids are consecutive: a dropped component's id is reused by the next one
  return { seeds, n };
}

/** How far an object may extend, in units of its nominal extent (its centre's ellipse / centerRatio). */
export const GROW_REACH = 1.5;

/**
 * The reach of each seed 1..n: `within(k, y, x)` is true when (y, x) lies inside seed k's moment ellipse (centroid
 * and covariance of its pixels, each a unit square) scaled by `scale`, the covariance widened by `pad`^2 px^2.
 * A uniformly filled ellipse's covariance is a^2/4, b^2/4 along its axes, so "inside scaled by s" is a
 * Mahalanobis distance <= 2 s.
 */
export function seedReach(seeds: Int32Array, n: number, W: number, scale: number, pad = 1): (k: number, y: number, x: number) => boolean {
  const cnt = new Float64Array(n + 1),
    sy = new Float64Array(n + 1),
    sx = new Float64Array(n + 1),
    syy = new Float64Array(n + 1),
    sxx = new Float64Array(n + 1),
    sxy = new Float64Array(n + 1);
  for (let i = 0; i < seeds.length; i++) {
    const k = seeds[i];
    if (k <= 0) continue;
    const y = (i / W) | 0,
      x = i - y * W;
    cnt[k]++;
    sy[k] += y;
    sx[k] += x;
    syy[k] += y * y;
    sxx[k] += x * x;
    sxy[k] += y * x;
  }
  // inverse covariance per seed, scaled so that "inside" is q(y, x) <= 1
  const a = new Float64Array(n + 1),
    b = new Float64Array(n + 1),
    c = new Float64Array(n + 1);
  const r2 = 4 * scale * scale;
  for (let k = 1; k <= n; k++) {
    const m = cnt[k];
    if (m === 0) continue;
    sy[k] /= m;
    sx[k] /= m;
    const vyy = syy[k] / m - sy[k] ** 2 + 1 / 12 + pad * pad,
      vxx = sxx[k] / m - sx[k] ** 2 + 1 / 12 + pad * pad,
      vxy = sxy[k] / m - sy[k] * sx[k];
    const det = vyy * vxx - vxy * vxy;
    a[k] = vxx / det / r2;
    b[k] = -vxy / det / r2;
    c[k] = vyy / det / r2;
  }
  return (k, y, x) => {
    const dy = y - sy[k],
      dx = x - sx[k];
    return a[k] * dy * dy + 2 * b[k] * dy * dx + c[k] * dx * dx <= 1;
  };
}

/**
 * Marker-based watershed: grows `labels` (seeds > 0, modified in place) into pixels where `allowed` is set,
 * 4-connected, lowest `cost` first (ties: first come, first served); with `reach`, seed k only into the pixels
 * where reach(k, y, x) holds.
 */
export function growSeeds(
  labels: Int32Array,
  allowed: Uint8Array,
  cost: Float32Array,
  H: number,
  W: number,
  reach?: (k: number, y: number, x: number) => boolean,
): void {
  const heap = new Heap();
  let order = 0;
  // label a pixel will take: that of the pixel that queued it first
  const pending = new Int32Array(H * W);
  const enqueueNeighbours = (q: number) => {
    const y = (q / W) | 0,
      x = q - y * W;
    const lab = labels[q];
    const nb = [y > 0 ? q - W : -1, y < H - 1 ? q + W : -1, x > 0 ? q - 1 : -1, x < W - 1 ? q + 1 : -1];
    for (const r of nb) {
      if (r < 0 || labels[r] !== 0 || pending[r] !== 0 || !allowed[r]) continue;
      if (reach) {
        const ry = (r / W) | 0;
        if (!reach(lab, ry, r - ry * W)) continue;
      }
      pending[r] = lab;
      heap.push(cost[r], order++, r);
    }
  };
  for (let i = 0; i < H * W; i++) if (labels[i] > 0) enqueueNeighbours(i);
  while (heap.size) {
    const q = heap.pop();
    labels[q] = pending[q];
    enqueueNeighbours(q);
  }
}

/** Activated ELEPHANT maps [bg, border, centre] -> instances (see the file header). */
export function postprocess(maps: Image2D, config: ElephantConfig, opts?: PostprocessOptions): Instances {
  const { height: H, width: W, channels: C, data } = maps;
  if (C !== 3) throw new Error(`elephant postprocess: expected 3 channels [bg, border, centre], got ${C}`);
  if (data.length !== H * W * C) throw new Error(`elephant postprocess: data length ${data.length} != ${H}x${W}x${C}`);
  const cThresh = opts?.probThresh ?? config.centerThresh;
  const centre = new Uint8Array(H * W),
    allowed = new Uint8Array(H * W);
  const cost = new Float32Array(H * W),
    fg = new Float32Array(H * W);
  for (let i = 0; i < H * W; i++) {
    const pc = data[3 * i + 2];
    fg[i] = data[3 * i + 1] + pc;
    cost[i] = -pc;
    centre[i] = pc > cThresh ? 1 : 0;
    allowed[i] = fg[i] > config.foregroundThresh || centre[i] ? 1 : 0;
  }
  const { seeds: labels, n: nSeeds } = seedComponents(centre, H, W, config.minCenterSize);
  growSeeds(labels, allowed, cost, H, W, seedReach(labels, nSeeds, W, GROW_REACH / config.centerRatio));
  const n = fillHolesAndRemoveSmall(labels, H, W, config.minSize);
  return toInstances(labels, H, W, n, fg);
}
