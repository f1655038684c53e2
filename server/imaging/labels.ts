/**
 * Pure label-image helpers (signed convention: -1 unlabeled, 0 background, k > 0 instance k).
 *
 * Wire/"offset1" convention (napari Labels, Fiji label images): 0 unlabeled, 1 background, k+1 instance k.
 * No I/O, no tfjs.
 */
import type { Labels2D } from './types.js';

/** Any integer typed array a label image may arrive in. */
export type IntArray = Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** Inclusive bounding box of one object: rows y0..y1, columns x0..x1, and its pixel count. */
export interface BBox {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
  area: number;
}

/** A new all-zero (background) label image, or filled with `fill`. */
export function emptyLabels(height: number, width: number, fill = 0): Labels2D {
  const data = new Int32Array(height * width);
  if (fill !== 0) data.fill(fill);
  return { height, width, data };
}

/** Deep copy. */
export function cloneLabels(l: Labels2D): Labels2D {
  return { height: l.height, width: l.width, data: l.data.slice() };
}

/** offset1 (0 unlabeled, 1 background, k+1 instance k) -> signed (-1 / 0 / k). */
export function offset1ToSigned(data: ArrayLike<number>, height: number, width: number): Labels2D {
  if (data.length !== height * width) {
    throw new Error(`offset1ToSigned: data has ${data.length} values, expected ${height}x${width}`);
  }
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < 0 || !Number.isInteger(v)) throw new Error(`offset1ToSigned: invalid value ${v} at index ${i}`);
    out[i] = v - 1;
  }
  return { height, width, data: out };
}

/**
 * signed -> offset1. Output is an Int32Array unless `into` is given (e.g. a Uint16Array for the wire);
 * values that do not fit `into` throw.
 */
export function signedToOffset1<T extends IntArray = Int32Array>(labels: Labels2D, into?: T): T {
  const n = labels.data.length;
  const out = (into ?? new Int32Array(n)) as T;
  if (out.length !== n) throw new Error(`signedToOffset1: target has ${out.length} values, expected ${n}`);
  for (let i = 0; i < n; i++) {
    const v = labels.data[i];
    if (v < -1) throw new Error(`signedToOffset1: invalid signed label ${v} at index ${i}`);
    out[i] = v + 1;
    if (out[i] !== v + 1) throw new Error(`signedToOffset1: label ${v} does not fit the target array`);
  }
  return out;
}

/** Validate a signed label image: integer values >= -1, matching size. Throws naming the problem. */
export function checkSignedLabels(labels: Labels2D): void {
  const { height, width, data } = labels;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 0 || width < 0) {
    throw new Error(`labels: invalid shape ${height}x${width}`);
  }
  if (data.length !== height * width) throw new Error(`labels: data has ${data.length} values, expected ${height * width}`);
  for (let i = 0; i < data.length; i++) if (data[i] < -1) throw new Error(`labels: value ${data[i]} < -1 at index ${i}`);
}

/** Sorted distinct instance ids (> 0). */
export function objectIds(labels: Labels2D): number[] {
  const seen = new Set<number>();
  const d = labels.data;
  let last = 0;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v > 0 && v !== last) {
      seen.add(v);
      last = v;
    }
  }
  return [...seen].sort((a, b) => a - b);
}

/** Pixel count per instance id (> 0). */
export function objectCounts(labels: Labels2D): Map<number, number> {
  const m = new Map<number, number>();
  const d = labels.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v > 0) m.set(v, (m.get(v) ?? 0) + 1);
  }
  return m;
}

/** Number of instances. */
export function countObjects(labels: Labels2D): number {
  return objectIds(labels).length;
}

/** Inclusive bounding box of all object pixels (> 0) together, undefined without any. */
export function objectsBox(labels: Labels2D): Omit<BBox, 'area'> | undefined {
  const { height: H, width: W, data } = labels;
  let y0 = H,
    x0 = W,
    y1 = -1,
    x1 = -1;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      if (data[y * W + x] > 0) {
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
      }
  return y1 < 0 ? undefined : { y0, x0, y1, x1 };
}

/** Inclusive bounding boxes (and areas) of every instance id (> 0). */
export function boundingBoxes(labels: Labels2D): Map<number, BBox> {
  const m = new Map<number, BBox>();
  const { width: W, height: H, data } = labels;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      const v = data[row + x];
      if (v <= 0) continue;
      const b = m.get(v);
      if (b === undefined) m.set(v, { y0: y, x0: x, y1: y, x1: x, area: 1 });
      else {
        if (x < b.x0) b.x0 = x;
        if (x > b.x1) b.x1 = x;
        b.y1 = y;
        b.area++;
      }
    }
  }
  return m;
}

/**
 * Relabel instance ids to 1..n in order of increasing original id (like skimage relabel_sequential).
 * Negative values (-1 unlabeled) and 0 are kept. Returns the new image and the forward/inverse maps.
 */
export function relabelSequential(labels: Labels2D): { labels: Labels2D; forward: Map<number, number>; inverse: number[] } {
  const ids = objectIds(labels);
  const forward = new Map<number, number>();
  const inverse = [0];
  ids.forEach((id, i) => {
    forward.set(id, i + 1);
    inverse.push(id);
  });
  const out = new Int32Array(labels.data.length);
  const d = labels.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    out[i] = v > 0 ? (forward.get(v) as number) : v;
  }
  return { labels: { height: labels.height, width: labels.width, data: out }, forward, inverse };
}

/**
 * Connected components of the pixels where `mask` is non-zero (4- or 8-connectivity), labelled 1..n in
 * raster order of their first pixel. Two-pass union-find. Returns labels (0 elsewhere) and the count.
 */
export function connectedComponents(
  mask: ArrayLike<number> | ArrayLike<boolean>,
  height: number,
  width: number,
  connectivity: 4 | 8 = 4,
): { labels: Labels2D; count: number } {
  const n = height * width;
  const parent = new Int32Array(n).fill(-1);
  const find = (a: number): number => {
    let r = a;
    while (parent[r] !== r) r = parent[r];
    while (parent[a] !== r) {
      const nx = parent[a];
      parent[a] = r;
      a = nx;
    }
    return r;
  };
  const union = (a: number, b: number) => {
    const ra = find(a),
      rb = find(b);
    if (ra === rb) return;
    if (ra < rb) parent[rb] = ra;
    else parent[ra] = rb;
  };
  const on = (i: number) => !!mask[i];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!on(i)) continue;
      parent[i] = i;
      if (x > 0 && on(i - 1)) union(i, i - 1);
      if (y > 0) {
        const up = i - width;
        if (on(up)) union(i, up);
        if (connectivity === 8) {
          if (x > 0 && on(up - 1)) union(i, up - 1);
          if (x < width - 1 && on(up + 1)) union(i, up + 1);
        }
      }
    }
  }
  const out = new Int32Array(n);
  const rootLabel = new Int32Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (parent[i] < 0) continue;
    const r = find(i);
    if (rootLabel[r] === 0) rootLabel[r] = ++count;
    out[i] = rootLabel[r];
  }
  return { labels: { height, width, data: out }, count };
}

/**
 * Fill holes of every instance: background/unlabeled regions (4-connected) that touch no image border and
 * are enclosed by exactly one instance id get that id. Returns a new image.
 */
export function fillHoles(labels: Labels2D): Labels2D {
  const { height: H, width: W, data } = labels;
  const out = data.slice();
  const notObj = new Uint8Array(H * W);
  for (let i = 0; i < data.length; i++) notObj[i] = data[i] <= 0 ? 1 : 0;
  const { labels: cc, count } = connectedComponents(notObj, H, W, 4);
  if (count === 0) return { height: H, width: W, data: out };
  // For each hole candidate, the single enclosing id (0 = none yet, -2 = touches border or several ids).
  const encl = new Int32Array(count + 1);
  const c = cc.data;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const k = c[i];
      if (k === 0 || encl[k] === -2) continue;
      if (y === 0 || x === 0 || y === H - 1 || x === W - 1) {
        encl[k] = -2;
        continue;
      }
      for (const j of [i - 1, i + 1, i - W, i + W]) {
        const v = data[j];
        if (v <= 0) continue;
        if (encl[k] === 0) encl[k] = v;
        else if (encl[k] !== v) {
          encl[k] = -2;
          break;
        }
      }
    }
  }
  for (let i = 0; i < out.length; i++) {
    const k = c[i];
    if (k > 0 && encl[k] > 0) out[i] = encl[k];
  }
  return { height: H, width: W, data: out };
}

/** Set instances smaller than `minSize` pixels to `replaceWith` (default 0 background). */
export function removeSmallObjects(labels: Labels2D, minSize: number, replaceWith = 0): Labels2D {
  const counts = objectCounts(labels);
  const out = labels.data.slice();
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (v > 0 && (counts.get(v) as number) < minSize) out[i] = replaceWith;
  }
  return { height: labels.height, width: labels.width, data: out };
}

/**
 * Crop a patch [y0, y0+h) x [x0, x0+w). Parts outside the image are filled with `fill`
 * (default -1: unknown).
 */
export function cropLabels(labels: Labels2D, y0: number, x0: number, h: number, w: number, fill = -1): Labels2D {
  const out = new Int32Array(h * w);
  if (fill !== 0) out.fill(fill);
  const { height: H, width: W, data } = labels;
  const ys = Math.max(0, y0),
    ye = Math.min(H, y0 + h);
  const xs = Math.max(0, x0),
    xe = Math.min(W, x0 + w);
  for (let y = ys; y < ye; y++) {
    if (xe > xs) out.set(data.subarray(y * W + xs, y * W + xe), (y - y0) * w + (xs - x0));
  }
  return { height: h, width: w, data: out };
}

/**
 * Paste `patch` into `target` (in place) at origin [y0, x0]; the part outside the target is clipped.
 * With `skipUnlabeled`, patch pixels equal to -1 leave the target unchanged (an "overlay" brush update).
 */
export function pasteLabels(target: Labels2D, patch: Labels2D, y0: number, x0: number, skipUnlabeled = false): void {
  const { height: H, width: W, data } = target;
  const ys = Math.max(0, y0),
    ye = Math.min(H, y0 + patch.height);
  const xs = Math.max(0, x0),
    xe = Math.min(W, x0 + patch.width);
  for (let y = ys; y < ye; y++) {
    const src = (y - y0) * patch.width + (xs - x0);
    const dst = y * W + xs;
    if (!skipUnlabeled) {
      data.set(patch.data.subarray(src, src + (xe - xs)), dst);
    } else {
      for (let k = 0; k < xe - xs; k++) {
        const v = patch.data[src + k];
        if (v !== -1) data[dst + k] = v;
      }
    }
  }
}
