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
 *     between touching objects by geodesic distance). Foreground never reached from a seed is dropped;
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

/**
 * Marker-based watershed: grows `labels` (seeds > 0, modified in place) into pixels where `allowed` is set,
 * 4-connected, lowest `cost` first (ties: first come, first served).
 */
export function growSeeds(labels: Int32Array, allowed: Uint8Array, cost: Float32Array, H: number, W: number): void {
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
  const { seeds: labels } = seedComponents(centre, H, W, config.minCenterSize);
  growSeeds(labels, allowed, cost, H, W);
  const n = fillHolesAndRemoveSmall(labels, H, W, config.minSize);
  return toInstances(labels, H, W, n, fg);
}
