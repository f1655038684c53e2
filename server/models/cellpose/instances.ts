/**
 * Instance-mask helpers shared by the Cellpose-like and ELEPHANT-like post-processing (pure):
 * small-mask removal, hole filling, sequential relabelling and label image -> polygons.
 *
 * Stop-gap: server/imaging/{labels,polygon}.ts did not exist when this was written. Once they land,
 * these helpers can be replaced by (or re-exported from) them.
 */
import type { Instance, Instances, Labels2D, Polygon } from '../../imaging/types.js';

/** Relabel ids > 0 to 1..n in order of first appearance (raster order); returns n. In place. */
export function relabelSequential(labels: Int32Array): number {
  const map = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v <= 0) { labels[i] = 0; continue; }
    let m = map.get(v);
    if (m === undefined) { m = map.size + 1; map.set(v, m); }
    labels[i] = m;
  }
  return map.size;
}

/** Pixel count of every id (index = id) of a sequentially labelled image with ids 1..n. */
export function areas(labels: Int32Array, n: number): Int32Array {
  const a = new Int32Array(n + 1);
  for (let i = 0; i < labels.length; i++) if (labels[i] > 0) a[labels[i]]++;
  return a;
}

/**
 * Sets to 0 the masks with fewer than `minSize` pixels, fills the holes of the rest (background
 * regions not 4-connected to the mask's padded bounding box border; only background pixels are filled,
 * other masks are never overwritten), then relabels 1..n. In place; returns n.
 */
export function fillHolesAndRemoveSmall(labels: Int32Array, H: number, W: number, minSize: number): number {
  let n = relabelSequential(labels);
  const area = areas(labels, n);
  if (minSize > 0) {
    for (let i = 0; i < labels.length; i++) if (labels[i] > 0 && area[labels[i]] < minSize) labels[i] = 0;
    n = relabelSequential(labels);
  }
  // bounding boxes
  const y0 = new Int32Array(n + 1).fill(H), y1 = new Int32Array(n + 1).fill(-1);
  const x0 = new Int32Array(n + 1).fill(W), x1 = new Int32Array(n + 1).fill(-1);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const v = labels[y * W + x];
      if (v <= 0) continue;
      if (y < y0[v]) y0[v] = y;
      if (y > y1[v]) y1[v] = y;
      if (x < x0[v]) x0[v] = x;
      if (x > x1[v]) x1[v] = x;
    }
  for (let id = 1; id <= n; id++) {
    // padded box: local (ly+2) x (lx+2); outside-image pixels count as background reachable from the border
    const ly = y1[id] - y0[id] + 3, lx = x1[id] - x0[id] + 3;
    const seen = new Uint8Array(ly * lx);
    const stack: number[] = [];
    const isMask = (ly_: number, lx_: number) => {
      const y = y0[id] + ly_ - 1, x = x0[id] + lx_ - 1;
      return y >= 0 && y < H && x >= 0 && x < W && labels[y * W + x] === id;
    };
    for (let a = 0; a < ly; a++)
      for (let b = 0; b < lx; b++)
        if ((a === 0 || b === 0 || a === ly - 1 || b === lx - 1)) { seen[a * lx + b] = 1; stack.push(a * lx + b); }
    while (stack.length) {
      const q = stack.pop()!;
      const a = (q / lx) | 0, b = q - a * lx;
      const nb = [[a - 1, b], [a + 1, b], [a, b - 1], [a, b + 1]];
      for (const [c, d] of nb) {
        if (c < 0 || d < 0 || c >= ly || d >= lx) continue;
        const r = c * lx + d;
        if (seen[r] || isMask(c, d)) continue;
        seen[r] = 1;
        stack.push(r);
      }
    }
    for (let a = 1; a < ly - 1; a++)
      for (let b = 1; b < lx - 1; b++) {
        if (seen[a * lx + b]) continue;
        const i = (y0[id] + a - 1) * W + (x0[id] + b - 1);
        if (labels[i] === 0) labels[i] = id;
      }
  }
  return n;
}

/** Inclusive bounding box. */
export interface Box { y0: number; y1: number; x0: number; x1: number }

// 8 directions, clockwise on screen (y down): E, SE, S, SW, W, NW, N, NE
const DY = [0, 1, 1, 1, 0, -1, -1, -1];
const DX = [1, 1, 0, -1, -1, -1, 0, 1];

function dirIndex(dy: number, dx: number): number {
  for (let k = 0; k < 8; k++) if (DY[k] === dy && DX[k] === dx) return k;
  throw new Error('not a neighbour');
}

/**
 * Outer contour of the largest 8-connected component of the pixels with value `id` (Moore-neighbour
 * tracing with Jacob's stopping criterion), as [y, x] pixel centres, clockwise on screen, collinear
 * vertices dropped. Empty if the id is absent.
 */
export function traceContour(labels: Labels2D, id: number, box?: Box): Polygon {
  const { height: H, width: W, data } = labels;
  const inside = (y: number, x: number) => y >= 0 && y < H && x >= 0 && x < W && data[y * W + x] === id;
  const { y0, y1, x0, x1 } = box ?? { y0: 0, y1: H - 1, x0: 0, x1: W - 1 };
  const bw = x1 - x0 + 1;
  // largest 8-connected component: its first pixel in raster order is the start
  const seen = new Uint8Array(Math.max(0, (y1 - y0 + 1) * bw));
  let sy = -1, sx = -1, bestSize = 0;
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      if (data[y * W + x] !== id || seen[(y - y0) * bw + x - x0]) continue;
      let size = 0;
      const stack = [y, x];
      seen[(y - y0) * bw + x - x0] = 1;
      while (stack.length) {
        const qx = stack.pop()!, qy = stack.pop()!;
        size++;
        for (let k = 0; k < 8; k++) {
          const yy = qy + DY[k], xx = qx + DX[k];
          if (!inside(yy, xx)) continue;
          const r = (yy - y0) * bw + xx - x0;
          if (!seen[r]) { seen[r] = 1; stack.push(yy, xx); }
        }
      }
      if (size > bestSize) { bestSize = size; sy = y; sx = x; }
    }
  if (sy < 0) return [];
  const pts: Polygon = [[sy, sx]];
  // the start is the first pixel of its component in raster order, so its west neighbour is outside
  let cy = sy, cx = sx, back = 4;
  let firstY = -1, firstX = -1;
  const maxSteps = 4 * bestSize + 16;
  for (let step = 0; step < maxSteps; step++) {
    let found = -1;
    for (let k = 1; k <= 8; k++) {
      const d = (back + k) % 8;
      if (inside(cy + DY[d], cx + DX[d])) { found = d; break; }
    }
    if (found < 0) break; // isolated pixel
    const ny = cy + DY[found], nx = cx + DX[found];
    if (step === 0) { firstY = ny; firstX = nx; }
    else if (cy === sy && cx === sx && ny === firstY && nx === firstX) break;
    // the last outside pixel examined before `found`, seen from the new pixel
    const pd = (found + 7) % 8;
    const by = cy + DY[pd], bx = cx + DX[pd];
    back = dirIndex(by - ny, bx - nx);
    cy = ny; cx = nx;
    pts.push([cy, cx]);
  }
  // the tracing ends back at the start: drop the closing duplicate
  if (pts.length > 1 && pts[pts.length - 1][0] === sy && pts[pts.length - 1][1] === sx) pts.pop();
  return simplifyCollinear(pts);
}

function simplifyCollinear(pts: Polygon): Polygon {
  const n = pts.length;
  if (n < 3) return pts;
  const out: Polygon = [];
  for (let i = 0; i < n; i++) {
    const p = pts[(i + n - 1) % n], c = pts[i], q = pts[(i + 1) % n];
    const cross = (c[0] - p[0]) * (q[1] - c[1]) - (c[1] - p[1]) * (q[0] - c[0]);
    const dot = (c[0] - p[0]) * (q[0] - c[0]) + (c[1] - p[1]) * (q[1] - c[1]);
    if (cross !== 0 || dot <= 0) out.push(c);
  }
  return out.length >= 1 ? out : pts;
}

/**
 * A sequentially labelled image (ids 1..n, 0 background) -> Instances, with one polygon per id and
 * score = mean of `scoreMap` (H*W) over the instance's pixels (1 when no map is given).
 */
export function toInstances(labels: Int32Array, H: number, W: number, n: number, scoreMap?: ArrayLike<number>): Instances {
  const lab: Labels2D = { height: H, width: W, data: labels };
  const sum = new Float64Array(n + 1), cnt = new Int32Array(n + 1);
  const y0 = new Int32Array(n + 1).fill(H), y1 = new Int32Array(n + 1).fill(-1);
  const x0 = new Int32Array(n + 1).fill(W), x1 = new Int32Array(n + 1).fill(-1);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const v = labels[i];
      if (v <= 0) continue;
      cnt[v]++;
      sum[v] += scoreMap ? scoreMap[i] : 1;
      if (y < y0[v]) y0[v] = y;
      if (y > y1[v]) y1[v] = y;
      if (x < x0[v]) x0[v] = x;
      if (x > x1[v]) x1[v] = x;
    }
  const polygons: Instance[] = [];
  for (let id = 1; id <= n; id++) {
    if (cnt[id] === 0) continue;
    const box = { y0: y0[id], y1: y1[id], x0: x0[id], x1: x1[id] };
    polygons.push({ id, score: sum[id] / cnt[id], points: traceContour(lab, id, box) });
  }
  return { labels: lab, polygons };
}
