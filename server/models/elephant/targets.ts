/**
 * ELEPHANT-like targets (pure): 3 classes background / border / centre, class-weighted, unlabeled ignored.
 *
 * Layout (model.ts codes against it), channels-last:
 *   target channels = [bg, border, centre]  one-hot on labeled pixels, all 0 on unlabeled pixels (3)
 *   weight channels = [w]                   on labeled pixels 1 (balance 'shares': the loss balances the classes)
 *                                           or classWeights[class] (balance 'weights'); exactly 0 on unlabeled (1)
 *
 * Centre rule (as ELEPHANT, whose centre label is the nucleus ellipse with its radii scaled by the centre
 * ratio): the object's moment ellipse — centroid and covariance of its pixels, each pixel counted as a
 * unit square (covariance + I/12), so that a uniformly filled ellipse with semi-axes a, b gives back
 * a, b — scaled by `centerRatio`, i.e. the object pixels whose Mahalanobis distance to the centroid is
 * <= 2 * centerRatio. Clipped to the object and reduced to its largest 8-connected component, so each
 * object has exactly one connected centre inside it; when that is empty (thin or strongly non-convex
 * objects) the object pixel nearest the centroid is the centre. Border = the rest of the object.
 * Chosen over a normalised-EDT threshold because it follows ELEPHANT, scales with the object's extent
 * along both axes (an EDT threshold shrinks elongated objects to a thin ridge, often split in pieces)
 * and does not depend on whether the object touches a neighbour.
 */
import type { Labels2D } from '../../imaging/types.js';
import type { TargetMaps } from '../model-family.js';
import { objectPixels, type ObjectPixels } from '../cellpose/targets.js';
import type { ElephantConfig } from './config.js';

export const TARGET_CHANNELS = 3;
export const WEIGHT_CHANNELS = 1;
export const CLASS_BACKGROUND = 0;
export const CLASS_BORDER = 1;
export const CLASS_CENTER = 2;

const DY8 = [-1, -1, -1, 0, 0, 1, 1, 1];
const DX8 = [-1, 0, 1, -1, 1, -1, 0, 1];

/** Marks the centre pixels of object j (see the header) in `isCenter` (H*W). */
function markCenter(W: number, obj: ObjectPixels, j: number, ratio: number, isCenter: Uint8Array): void {
  const a = obj.start[j],
    b = obj.start[j + 1];
  const n = b - a;
  let my = 0,
    mx = 0;
  for (let k = a; k < b; k++) {
    const p = obj.pixels[k],
      y = (p / W) | 0;
    my += y;
    mx += p - y * W;
  }
  my /= n;
  mx /= n;
  let syy = 0,
    sxx = 0,
    sxy = 0;
  for (let k = a; k < b; k++) {
    const p = obj.pixels[k],
      y = (p / W) | 0,
      x = p - y * W;
    syy += (y - my) ** 2;
    sxx += (x - mx) ** 2;
    sxy += (y - my) * (x - mx);
  }
  syy = syy / n + 1 / 12;
  sxx = sxx / n + 1 / 12;
  sxy /= n;
  const det = syy * sxx - sxy * sxy;
  const r2 = 4 * ratio * ratio;
  // candidates, in a local bounding-box grid
  const by0 = obj.y0[j],
    bx0 = obj.x0[j];
  const lh = obj.y1[j] - by0 + 1,
    lw = obj.x1[j] - bx0 + 1;
  const cand = new Uint8Array(lh * lw);
  let any = false;
  for (let k = a; k < b; k++) {
    const p = obj.pixels[k],
      y = (p / W) | 0,
      x = p - y * W;
    const dy = y - my,
      dx = x - mx;
    const m2 = (sxx * dy * dy - 2 * sxy * dy * dx + syy * dx * dx) / det;
    if (m2 <= r2) {
      cand[(y - by0) * lw + (x - bx0)] = 1;
      any = true;
    }
  }
  if (!any) {
    let best = a,
      bestD = Infinity;
    for (let k = a; k < b; k++) {
      const p = obj.pixels[k],
        y = (p / W) | 0,
        x = p - y * W;
      const d = (y - my) ** 2 + (x - mx) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    isCenter[obj.pixels[best]] = 1;
    return;
  }
  // largest 8-connected component of the candidates
  const comp = new Int32Array(lh * lw);
  let nComp = 0,
    bestComp = 0,
    bestSize = 0;
  for (let q0 = 0; q0 < lh * lw; q0++) {
    if (!cand[q0] || comp[q0]) continue;
    const c = ++nComp;
    comp[q0] = c;
    const stack = [q0];
    let size = 0;
    while (stack.length) {
      const q = stack.pop()!;
      size++;
      const y = (q / lw) | 0,
        x = q - y * lw;
      for (let d = 0; d < 8; d++) {
        const yy = y + DY8[d],
          xx = x + DX8[d];
        if (yy < 0 || yy >= lh || xx < 0 || xx >= lw) continue;
        const r = yy * lw + xx;
        if (cand[r] && !comp[r]) {
          comp[r] = c;
          stack.push(r);
        }
      }
    }
    if (size > bestSize) {
      bestSize = size;
      bestComp = c;
    }
  }
  for (let q = 0; q < lh * lw; q++)
    if (comp[q] === bestComp) {
      const y = (q / lw) | 0,
        x = q - y * lw;
      isCenter[(by0 + y) * W + bx0 + x] = 1;
    }
}

/** Per-pixel class of a label image: -1 unlabeled, 0 background, 1 border, 2 centre. */
export function classMap(labels: Labels2D, centerRatio: number): Int8Array {
  const { height: H, width: W, data } = labels;
  const isCenter = new Uint8Array(H * W);
  const obj = objectPixels(labels);
  for (let j = 0; j < obj.ids.length; j++) markCenter(W, obj, j, centerRatio, isCenter);
  const cls = new Int8Array(H * W);
  for (let i = 0; i < H * W; i++) {
    const v = data[i];
    cls[i] = v < 0 ? -1 : v === 0 ? CLASS_BACKGROUND : isCenter[i] ? CLASS_CENTER : CLASS_BORDER;
  }
  return cls;
}

/** Sparse signed labels (-1/0/k) -> ELEPHANT targets and weights (layout in the file header). */
export function makeTargets(
  labels: Labels2D,
  config: Pick<ElephantConfig, 'centerRatio' | 'classWeights'> & Partial<Pick<ElephantConfig, 'balance'>>,
): TargetMaps {
  const { height: H, width: W, data } = labels;
  if (data.length !== H * W) throw new Error(`labels: data length ${data.length} != ${H}x${W}`);
  const cls = classMap(labels, config.centerRatio);
  const target = new Float32Array(H * W * TARGET_CHANNELS);
  const weight = new Float32Array(H * W * WEIGHT_CHANNELS);
  for (let i = 0; i < H * W; i++) {
    const c = cls[i];
    if (c < 0) continue;
    target[3 * i + c] = 1;
    weight[i] = config.balance === 'shares' ? 1 : config.classWeights[c];
  }
  return { height: H, width: W, target, targetChannels: TARGET_CHANNELS, weight, weightChannels: WEIGHT_CHANNELS };
}
