/**
 * Cellpose-like post-processing (pure): flows + cell probability -> instance masks and polygons.
 *
 * Input maps (what `activate` produces), H*W*3 channels-last:
 *   [flowY, flowX, cellprob] with UNIT-scale flows (the network output divided by flowScale) pointing
 *   towards object centres, and cellprob a PROBABILITY in [0, 1] (sigmoid of the logit).
 *
 * Pipeline, after Cellpose's dynamics.py (compute_masks):
 *  1. foreground = cellprob > sigmoid(config.cellprobThresh) (or opts.probThresh, a probability);
 *  2. every foreground pixel follows the masked flows for `niter` Euler steps of length |flow| with
 *     bilinear interpolation, positions clamped to the image;
 *  3. a histogram of the rounded end points; seeds = bins that are the maximum of their 5x5 window
 *     and hold > 10 end points, taken by decreasing count; each seed claims the bins with > 2 end points
 *     reachable through such bins within 5 steps (3x3 neighbourhood). Unlike Cellpose, a bin already
 *     claimed by an earlier (larger) seed is never re-assigned, and a seed inside a claimed region starts
 *     no mask, so plateaus do not split objects;
 *  4. each pixel takes the mask of its end point's bin; masks larger than 40% of the image are dropped;
 *  5. masks whose re-computed flows (Cellpose's masks_to_flows) differ from the predicted ones by a mean
 *     squared error > flowThresh are dropped (remove_bad_flow_masks; flowThresh 0 disables it);
 *  6. masks smaller than minSize are removed, holes are filled, ids become 1..n;
 *  7. polygons by contour tracing; score = mean cell probability of the mask.
 */
import type { Image2D, Instances } from '../../imaging/types.js';
import type { PostprocessOptions } from '../model-family.js';
import { sigmoid, type CellposeConfig } from './config.js';
import { fillHolesAndRemoveSmall, relabelSequential, toInstances } from './instances.js';
import { masksToFlows } from './targets.js';

/** Fraction of the image above which a mask is considered spurious (Cellpose: 0.4). */
export const MAX_SIZE_FRACTION = 0.4;

/** End points of flow following for the listed pixels. */
export interface FlowEnds {
  /** Flat indices of the followed pixels. */
  pixels: Int32Array;
  /** Final positions (float) of each followed pixel. */
  py: Float32Array;
  px: Float32Array;
}

/**
 * Euler integration of a (masked) flow field: each listed pixel starts at its own position and moves by
 * the bilinearly interpolated flow, `niter` times, clamped to [0, H-1] x [0, W-1].
 */
export function followFlows(flowY: Float32Array, flowX: Float32Array, H: number, W: number, pixels: Int32Array, niter: number): FlowEnds {
  const n = pixels.length;
  const py = new Float32Array(n),
    px = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const y = (pixels[k] / W) | 0;
    py[k] = y;
    px[k] = pixels[k] - y * W;
  }
  const ymax = H - 1,
    xmax = W - 1;
  for (let k = 0; k < n; k++) {
    let y = py[k],
      x = px[k];
    for (let t = 0; t < niter; t++) {
      const yi = Math.floor(y),
        xi = Math.floor(x);
      const y1 = yi < ymax ? yi + 1 : ymax,
        x1 = xi < xmax ? xi + 1 : xmax;
      const wy = y - yi,
        wx = x - xi;
      const i00 = yi * W + xi,
        i01 = yi * W + x1,
        i10 = y1 * W + xi,
        i11 = y1 * W + x1;
      const a = (1 - wy) * (1 - wx),
        b = (1 - wy) * wx,
        c = wy * (1 - wx),
        d = wy * wx;
      const dy = a * flowY[i00] + b * flowY[i01] + c * flowY[i10] + d * flowY[i11];
      const dx = a * flowX[i00] + b * flowX[i01] + c * flowX[i10] + d * flowX[i11];
      if (dy === 0 && dx === 0) break; // fixed point: nothing will move it again
      y = Math.min(ymax, Math.max(0, y + dy));
      x = Math.min(xmax, Math.max(0, x + dx));
    }
    py[k] = y;
    px[k] = x;
  }
  return { pixels, py, px };
}

/**
 * Cluster flow end points into masks (step 3-4 of the header). Returns an H*W label image
 * (0 = no mask), ids 1..n sequential.
 */
export function getMasks(ends: FlowEnds, H: number, W: number): Int32Array {
  const n = ends.pixels.length;
  const bin = new Int32Array(n);
  const h = new Int32Array(H * W);
  for (let k = 0; k < n; k++) {
    const y = Math.round(ends.py[k]),
      x = Math.round(ends.px[k]);
    bin[k] = y * W + x;
    h[bin[k]]++;
  }
  // 5x5 maximum filter (separable)
  const rowMax = new Int32Array(H * W),
    hmax = new Int32Array(H * W);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let m = 0;
      for (let dx = -2; dx <= 2; dx++) {
        const xx = x + dx;
        if (xx >= 0 && xx < W && h[y * W + xx] > m) m = h[y * W + xx];
      }
      rowMax[y * W + x] = m;
    }
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let m = 0;
      for (let dy = -2; dy <= 2; dy++) {
        const yy = y + dy;
        if (yy >= 0 && yy < H && rowMax[yy * W + x] > m) m = rowMax[yy * W + x];
      }
      hmax[y * W + x] = m;
    }
  const seeds: number[] = [];
  for (let i = 0; i < H * W; i++) if (h[i] > 10 && h[i] >= hmax[i]) seeds.push(i);
  seeds.sort((a, b) => h[b] - h[a] || a - b);
  // grow each seed through bins with > 2 end points, 5 steps of 3x3
  const M = new Int32Array(H * W);
  let nextId = 0;
  for (const s of seeds) {
    if (M[s] !== 0) continue;
    const id = ++nextId;
    M[s] = id;
    let frontier = [s];
    for (let it = 0; it < 5 && frontier.length; it++) {
      const nf: number[] = [];
      for (const q of frontier) {
        const y = (q / W) | 0,
          x = q - y * W;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy,
              xx = x + dx;
            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            const r = yy * W + xx;
            if (M[r] !== 0 || h[r] <= 2) continue;
            M[r] = id;
            nf.push(r);
          }
      }
      frontier = nf;
    }
  }
  const masks = new Int32Array(H * W);
  for (let k = 0; k < n; k++) masks[ends.pixels[k]] = M[bin[k]];
  // drop masks that cover too much of the image
  const big = MAX_SIZE_FRACTION * H * W;
  const count = new Map<number, number>();
  for (let i = 0; i < masks.length; i++) if (masks[i] > 0) count.set(masks[i], (count.get(masks[i]) ?? 0) + 1);
  for (let i = 0; i < masks.length; i++) if (masks[i] > 0 && count.get(masks[i])! > big) masks[i] = 0;
  relabelSequential(masks);
  return masks;
}

/**
 * Mean over each mask's pixels of the squared difference between the flows re-computed from the mask
 * and the given unit flows (summed over both axes). Index = mask id (ids 1..n); entry 0 unused.
 */
export function flowErrors(masks: Int32Array, H: number, W: number, flowY: Float32Array, flowX: Float32Array): Float64Array {
  let n = 0;
  for (let i = 0; i < masks.length; i++) if (masks[i] > n) n = masks[i];
  const ref = masksToFlows({ height: H, width: W, data: masks });
  const err = new Float64Array(n + 1),
    cnt = new Float64Array(n + 1);
  for (let i = 0; i < masks.length; i++) {
    const v = masks[i];
    if (v <= 0) continue;
    err[v] += (ref.flowY[i] - flowY[i]) ** 2 + (ref.flowX[i] - flowX[i]) ** 2;
    cnt[v]++;
  }
  for (let v = 1; v <= n; v++) err[v] = cnt[v] ? err[v] / cnt[v] : 0;
  return err;
}

/** Activated Cellpose maps [flowY, flowX, cellprob] -> instances (see the file header). */
export function postprocess(maps: Image2D, config: CellposeConfig, opts?: PostprocessOptions): Instances {
  const { height: H, width: W, channels: C, data } = maps;
  if (C !== 3) throw new Error(`cellpose postprocess: expected 3 channels [flowY, flowX, cellprob], got ${C}`);
  if (data.length !== H * W * C) throw new Error(`cellpose postprocess: data length ${data.length} != ${H}x${W}x${C}`);
  const thresh = opts?.probThresh ?? sigmoid(config.cellprobThresh);
  const flowY = new Float32Array(H * W),
    flowX = new Float32Array(H * W),
    prob = new Float32Array(H * W);
  const fgList: number[] = [];
  const mY = new Float32Array(H * W),
    mX = new Float32Array(H * W);
  for (let i = 0; i < H * W; i++) {
    flowY[i] = data[3 * i];
    flowX[i] = data[3 * i + 1];
    prob[i] = data[3 * i + 2];
    if (prob[i] > thresh) {
      fgList.push(i);
      mY[i] = flowY[i];
      mX[i] = flowX[i];
    }
  }
  const ends = followFlows(mY, mX, H, W, Int32Array.from(fgList), config.niter);
  const masks = getMasks(ends, H, W);
  if (config.flowThresh > 0) {
    const err = flowErrors(masks, H, W, flowY, flowX);
    for (let i = 0; i < masks.length; i++) if (masks[i] > 0 && err[masks[i]] > config.flowThresh) masks[i] = 0;
  }
  const n = fillHolesAndRemoveSmall(masks, H, W, config.minSize);
  return toInstances(masks, H, W, n, prob);
}
