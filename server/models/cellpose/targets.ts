/**
 * Cellpose-like targets (pure): per-object flow fields from simulated heat diffusion, and cell
 * probability, with loss weights that ignore unlabeled pixels.
 *
 * Layout (model.ts codes against it), channels-last:
 *   target channels = [flowY, flowX, cellprob]   (3; unit flows pointing towards the object's centre)
 *   weight channels = [wFlow, wProb]             (2)
 *     wFlow = 1 on instance pixels, 0 elsewhere (background and unlabeled);
 *     wProb = 1 on every labeled pixel (background or instance), 0 on unlabeled (-1).
 * Unlabeled pixels get target 0 and weight exactly 0 in both channels.
 */
import type { Labels2D } from '../../imaging/types.js';
import type { TargetMaps } from '../model-family.js';
import type { CellposeConfig } from './config.js';

export const TARGET_CHANNELS = 3;
export const WEIGHT_CHANNELS = 2;

/** Unit flow fields of a label image (0 outside objects). */
export interface FlowField {
  height: number;
  width: number;
  flowY: Float32Array;
  flowX: Float32Array;
}

/** Pixels of every object (id > 0), grouped by id, with bounding boxes. */
export interface ObjectPixels {
  ids: number[];
  /** For object j: flat pixel indices start[j] .. start[j+1]-1 in `pixels`. */
  start: Int32Array;
  pixels: Int32Array;
  y0: Int32Array;
  y1: Int32Array;
  x0: Int32Array;
  x1: Int32Array;
}

/** Group the pixels of every instance (label > 0) by id; ids in order of first appearance. */
export function objectPixels(labels: { height: number; width: number; data: ArrayLike<number> }): ObjectPixels {
  const { width: W, data } = labels;
  const index = new Map<number, number>();
  const counts: number[] = [];
  const ids: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v <= 0) continue;
    let j = index.get(v);
    if (j === undefined) {
      j = ids.length;
      index.set(v, j);
      ids.push(v);
      counts.push(0);
    }
    counts[j]++;
  }
  const n = ids.length;
  const start = new Int32Array(n + 1);
  for (let j = 0; j < n; j++) start[j + 1] = start[j] + counts[j];
  const fill = start.slice(0, n);
  const pixels = new Int32Array(start[n]);
  const y0 = new Int32Array(n).fill(2 ** 30),
    y1 = new Int32Array(n).fill(-1);
  const x0 = new Int32Array(n).fill(2 ** 30),
    x1 = new Int32Array(n).fill(-1);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v <= 0) continue;
    const j = index.get(v)!;
    pixels[fill[j]++] = i;
    const y = (i / W) | 0,
      x = i - y * W;
    if (y < y0[j]) y0[j] = y;
    if (y > y1[j]) y1[j] = y;
    if (x < x0[j]) x0[j] = x;
    if (x > x1[j]) x1[j] = x;
  }
  return { ids, start, pixels, y0, y1, x0, x1 };
}

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

/**
 * Flows of one object, written into flowY/flowX (unit vectors; 0 where the gradient vanishes).
 *
 * As Cellpose's masks_to_flows: the centre is the object pixel nearest the median (y, x) of its pixels;
 * heat is injected at the centre and diffused with a 3x3 mean filter restricted to the object (zero
 * outside, Jacobi updates) for 2 * (height span + width span) iterations within the padded bounding box;
 * the flows are the central differences of log(1 + T), normalised to unit length.
 */
function objectFlows(W: number, obj: ObjectPixels, j: number, flowY: Float32Array, flowX: Float32Array): void {
  const a = obj.start[j],
    b = obj.start[j + 1];
  const n = b - a;
  const by0 = obj.y0[j],
    bx0 = obj.x0[j];
  const ly = obj.y1[j] - by0 + 1,
    lx = obj.x1[j] - bx0 + 1;
  const PW = lx + 2;
  const T = new Float64Array((ly + 2) * PW);
  const local = new Int32Array(n);
  const ys: number[] = new Array(n),
    xs: number[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const p = obj.pixels[a + k];
    const y = (p / W) | 0,
      x = p - y * W;
    ys[k] = y - by0 + 1;
    xs[k] = x - bx0 + 1;
    local[k] = ys[k] * PW + xs[k];
  }
  const ym = median(ys),
    xm = median(xs);
  let best = 0,
    bestD = Infinity;
  for (let k = 0; k < n; k++) {
    const d = (ys[k] - ym) ** 2 + (xs[k] - xm) ** 2;
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const centre = local[best];
  const niter = 2 * (ly - 1 + lx - 1);
  const next = new Float64Array(n);
  for (let t = 0; t < niter; t++) {
    T[centre] += 1;
    for (let k = 0; k < n; k++) {
      const q = local[k];
      next[k] = (T[q - PW - 1] + T[q - PW] + T[q - PW + 1] + T[q - 1] + T[q] + T[q + 1] + T[q + PW - 1] + T[q + PW] + T[q + PW + 1]) / 9;
    }
    for (let k = 0; k < n; k++) T[local[k]] = next[k];
  }
  for (let k = 0; k < n; k++) T[local[k]] = Math.log1p(T[local[k]]);
  for (let k = 0; k < n; k++) {
    const q = local[k];
    const dy = T[q + PW] - T[q - PW];
    const dx = T[q + 1] - T[q - 1];
    const norm = Math.sqrt(dy * dy + dx * dx) + 1e-20;
    const p = obj.pixels[a + k];
    flowY[p] = dy / norm;
    flowX[p] = dx / norm;
  }
}

/** Unit flows of every object (label > 0) of a label image; 0 on background and unlabeled pixels. */
export function masksToFlows(labels: { height: number; width: number; data: ArrayLike<number> }): FlowField {
  const { height: H, width: W } = labels;
  const flowY = new Float32Array(H * W),
    flowX = new Float32Array(H * W);
  const obj = objectPixels(labels);
  for (let j = 0; j < obj.ids.length; j++) objectFlows(W, obj, j, flowY, flowX);
  return { height: H, width: W, flowY, flowX };
}

/** Sparse signed labels (-1/0/k) -> Cellpose targets and weights (layout in the file header). */
export function makeTargets(labels: Labels2D, _config?: CellposeConfig): TargetMaps {
  const { height: H, width: W, data } = labels;
  if (data.length !== H * W) throw new Error(`labels: data length ${data.length} != ${H}x${W}`);
  const { flowY, flowX } = masksToFlows(labels);
  const target = new Float32Array(H * W * TARGET_CHANNELS);
  const weight = new Float32Array(H * W * WEIGHT_CHANNELS);
  for (let i = 0; i < H * W; i++) {
    const v = data[i];
    if (v > 0) {
      target[3 * i] = flowY[i];
      target[3 * i + 1] = flowX[i];
      target[3 * i + 2] = 1;
      weight[2 * i] = 1;
      weight[2 * i + 1] = 1;
    } else if (v === 0) {
      weight[2 * i + 1] = 1;
    }
  }
  return { height: H, width: W, target, targetChannels: TARGET_CHANNELS, weight, weightChannels: WEIGHT_CHANNELS };
}
