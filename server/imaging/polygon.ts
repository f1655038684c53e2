/**
 * Polygon geometry for ROIs and star-convex post-processing. Coordinates are [y, x] with pixel centres at
 * integers (pixel (y, x) covers [y-0.5, y+0.5] x [x-0.5, x+0.5]). Pure.
 *
 * Rasterisation rule (the same as skimage.draw.polygon, which stardist's polygons_to_label uses): a pixel
 * belongs to a polygon iff its centre is inside by the even-odd crossing test ("PNPOLY": an edge counts
 * for row y when (y_i > y) != (y_j > y), and the pixel when its x lies left of the crossing).
 */
import type { Labels2D, Polygon } from './types.js';

/** Unsigned area (shoelace). */
export function polygonArea(poly: Polygon): number {
  const n = poly.length;
  let s = 0;
  for (let i = 0, j = n - 1; i < n; j = i++) s += poly[j][1] * poly[i][0] - poly[i][1] * poly[j][0];
  return Math.abs(s) / 2;
}

/** Axis-aligned bounds of a polygon: [ymin, xmin, ymax, xmax]. */
export function polygonBounds(poly: Polygon): [number, number, number, number] {
  let y0 = Infinity,
    x0 = Infinity,
    y1 = -Infinity,
    x1 = -Infinity;
  for (const [y, x] of poly) {
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
  }
  return [y0, x0, y1, x1];
}

/**
 * Star-convex polygon from a centre and radial distances: vertex r at angle phi_r = 2*pi*r/n is
 * [cy + d_r*sin(phi_r), cx + d_r*cos(phi_r)] (stardist's dist_to_coord convention).
 */
export function starPolygon(cy: number, cx: number, dists: ArrayLike<number>): Polygon {
  const n = dists.length;
  const out: Polygon = new Array(n);
  for (let r = 0; r < n; r++) {
    const phi = (2 * Math.PI * r) / n;
    out[r] = [cy + dists[r] * Math.sin(phi), cx + dists[r] * Math.cos(phi)];
  }
  return out;
}

/** Reusable scratch for rasterisation (avoids allocations in hot loops). */
const scratch = { xs: new Float64Array(64) };

/**
 * Visit the pixel spans of a polygon clipped to an H x W image: cb(y, x0, x1) for every maximal run
 * x0..x1 (inclusive) of inside pixels on row y, rows in increasing order. Flat-array form: ys/xs are the
 * vertex coordinates (length n) so callers can avoid building [y, x] pairs.
 */
export function polygonSpansFlat(
  ys: ArrayLike<number>,
  xs: ArrayLike<number>,
  n: number,
  height: number,
  width: number,
  cb: (y: number, x0: number, x1: number) => void,
): void {
  if (n < 3) return;
  let ymin = Infinity,
    ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (!(y >= ymin)) ymin = Math.min(ymin, y);
    if (!(y <= ymax)) ymax = Math.max(ymax, y);
  }
  if (!Number.isFinite(ymin) || !Number.isFinite(ymax)) return;
  const r0 = Math.max(0, Math.ceil(ymin)),
    r1 = Math.min(height - 1, Math.floor(ymax));
  if (scratch.xs.length < n) scratch.xs = new Float64Array(2 * n);
  const cross = scratch.xs;
  for (let r = r0; r <= r1; r++) {
    let m = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const yi = ys[i],
        yj = ys[j];
      if (yi > r !== yj > r) {
        const xc = xs[i] + ((xs[j] - xs[i]) * (r - yi)) / (yj - yi);
        // insertion sort (m is tiny)
        let k = m++;
        while (k > 0 && cross[k - 1] > xc) {
          cross[k] = cross[k - 1];
          k--;
        }
        cross[k] = xc;
      }
    }
    for (let k = 0; k + 1 < m; k += 2) {
      // pixel x inside iff #{crossings > x} is odd  <=>  cross[k] <= x < cross[k+1]
      const a = Math.max(0, Math.ceil(cross[k]));
      const b = Math.min(width - 1, Math.ceil(cross[k + 1]) - 1);
      if (b >= a) cb(r, a, b);
    }
  }
}

/** Visit the pixel spans of a polygon ([y, x] vertices) clipped to the image; see polygonSpansFlat. */
export function polygonSpans(poly: Polygon, height: number, width: number, cb: (y: number, x0: number, x1: number) => void): void {
  const n = poly.length;
  const ys = new Float64Array(n),
    xs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ys[i] = poly[i][0];
    xs[i] = poly[i][1];
  }
  polygonSpansFlat(ys, xs, n, height, width, cb);
}

/** Flat pixel indices (y*width + x) inside the polygon, clipped to the image, in raster order. */
export function rasterizePolygon(poly: Polygon, height: number, width: number): Int32Array {
  const idx: number[] = [];
  polygonSpans(poly, height, width, (y, x0, x1) => {
    for (let x = x0; x <= x1; x++) idx.push(y * width + x);
  });
  return Int32Array.from(idx);
}

/** Paint a polygon with `value` into a label image (in place). */
export function paintPolygon(labels: Labels2D, poly: Polygon, value: number): void {
  const { width: W, data } = labels;
  polygonSpans(poly, labels.height, W, (y, x0, x1) => data.fill(value, y * W + x0, y * W + x1 + 1));
}

/** Even-odd inside test of a point against a polygon. */
export function pointInPolygon(y: number, x: number, poly: Polygon): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [yi, xi] = poly[i],
      [yj, xj] = poly[j];
    if (yi > y !== yj > y && x < xi + ((xj - xi) * (y - yi)) / (yj - yi)) inside = !inside;
  }
  return inside;
}

/** Sorted crossing abscissae of a horizontal line at height y with the edges of a polygon. */
function crossings(poly: Polygon, y: number): number[] {
  const xs: number[] = [];
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [yi, xi] = poly[i],
      [yj, xj] = poly[j];
    if (yi > y !== yj > y) xs.push(xi + ((xj - xi) * (y - yi)) / (yj - yi));
  }
  return xs.sort((a, b) => a - b);
}

/** Length of the intersection of two even-odd interval sets given by sorted crossings. */
function overlapLength(a: number[], b: number[]): number {
  let len = 0,
    i = 0,
    j = 0;
  while (i + 1 < a.length && j + 1 < b.length) {
    const lo = Math.max(a[i], b[j]),
      hi = Math.min(a[i + 1], b[j + 1]);
    if (hi > lo) len += hi - lo;
    if (a[i + 1] < b[j + 1]) i += 2;
    else j += 2;
  }
  return len;
}

/**
 * EXACT intersection area of two simple polygons (even-odd fill). Between consecutive "event" heights
 * (all vertex heights and the heights where an edge of one polygon crosses an edge of the other) the
 * width of the intersection is linear in y, so the midpoint rule integrates it exactly.
 */
export function polygonIntersectionArea(a: Polygon, b: Polygon): number {
  const [ay0, ax0, ay1, ax1] = polygonBounds(a);
  const [by0, bx0, by1, bx1] = polygonBounds(b);
  if (ay1 <= by0 || by1 <= ay0 || ax1 <= bx0 || bx1 <= ax0) return 0;
  const ev: number[] = [];
  for (const p of a) ev.push(p[0]);
  for (const p of b) ev.push(p[0]);
  for (let i = 0, j = a.length - 1; i < a.length; j = i++) {
    const [p1y, p1x] = a[j],
      [p2y, p2x] = a[i];
    const dy = p2y - p1y,
      dx = p2x - p1x;
    for (let k = 0, l = b.length - 1; k < b.length; l = k++) {
      const [q1y, q1x] = b[l],
        [q2y, q2x] = b[k];
      const ey = q2y - q1y,
        ex = q2x - q1x;
      const den = dx * ey - dy * ex;
      if (den === 0) continue;
      const t = ((q1x - p1x) * ey - (q1y - p1y) * ex) / den;
      const u = ((q1x - p1x) * dy - (q1y - p1y) * dx) / den;
      if (t > 0 && t < 1 && u > 0 && u < 1) ev.push(p1y + t * dy);
    }
  }
  ev.sort((p, q) => p - q);
  const lo = Math.max(ay0, by0),
    hi = Math.min(ay1, by1);
  let area = 0;
  for (let k = 0; k + 1 < ev.length; k++) {
    const y0 = Math.max(ev[k], lo),
      y1 = Math.min(ev[k + 1], hi);
    if (y1 <= y0) continue;
    const ym = (y0 + y1) / 2;
    area += overlapLength(crossings(a, ym), crossings(b, ym)) * (y1 - y0);
  }
  return area;
}

/** Exact intersection over union of two simple polygons (0 when both are empty). */
export function polygonIou(a: Polygon, b: Polygon): number {
  const inter = polygonIntersectionArea(a, b);
  const union = polygonArea(a) + polygonArea(b) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Outer contour of the 4-connected component that contains `start` (a flat index of a mask pixel; default:
 * the first mask pixel in raster order), traced along pixel edges ("crack following"). Vertices are pixel
 * corners [y-0.5, x-0.5] at every change of direction, clockwise on screen (y down). The polygon encloses
 * exactly the component's pixels (holes are not traced): rasterizePolygon(traceContour(m)) gives back the
 * component with its holes filled. Returns [] for an empty mask.
 */
export function traceContour(mask: ArrayLike<number> | ArrayLike<boolean>, height: number, width: number, start?: number): Polygon {
  const n = height * width;
  let s = -1;
  if (start === undefined) {
    for (let i = 0; i < n; i++)
      if (mask[i]) {
        s = i;
        break;
      }
  } else if (start >= 0 && start < n && mask[start]) {
    // the raster-first pixel of the 4-connected component holding `start` (its top-left corner is on the
    // OUTER contour, never on a hole boundary)
    const seen = new Uint8Array(n);
    const stack = [start];
    seen[start] = 1;
    s = start;
    while (stack.length) {
      const i = stack.pop() as number;
      if (i < s) s = i;
      const y = Math.floor(i / width),
        x = i - y * width;
      if (x > 0 && !seen[i - 1] && mask[i - 1]) {
        seen[i - 1] = 1;
        stack.push(i - 1);
      }
      if (x < width - 1 && !seen[i + 1] && mask[i + 1]) {
        seen[i + 1] = 1;
        stack.push(i + 1);
      }
      if (y > 0 && !seen[i - width] && mask[i - width]) {
        seen[i - width] = 1;
        stack.push(i - width);
      }
      if (y < height - 1 && !seen[i + width] && mask[i + width]) {
        seen[i + width] = 1;
        stack.push(i + width);
      }
    }
  }
  if (s < 0) return [];
  return traceFrom((y, x) => y >= 0 && x >= 0 && y < height && x < width && !!mask[y * width + x], Math.floor(s / width), s % width, height, width);
}

/**
 * Crack-following walk keeping the object on the right-hand side, starting at the top-left corner of
 * pixel (sy, sx), which must be the raster-first pixel of its 4-connected component. Diagonal-only
 * neighbours are treated as separate (4-connectivity).
 */
function traceFrom(on: (y: number, x: number) => boolean, sy: number, sx: number, height: number, width: number): Polygon {
  // corner (cy, cx) is the top-left corner of pixel (cy, cx); directions: right, down, left, up
  const DY = [0, 1, 0, -1],
    DX = [1, 0, -1, 0];
  let cy = sy,
    cx = sx,
    d = 0;
  const out: Polygon = [[sy - 0.5, sx - 0.5]];
  const limit = 4 * (height + 1) * (width + 1) + 8;
  for (let steps = 0; steps < limit; steps++) {
    cy += DY[d];
    cx += DX[d];
    // pixels ahead of the corner, to the right (r) and left (l) of the walking direction
    let r: boolean, l: boolean;
    if (d === 0) {
      r = on(cy, cx);
      l = on(cy - 1, cx);
    } else if (d === 1) {
      r = on(cy, cx - 1);
      l = on(cy, cx);
    } else if (d === 2) {
      r = on(cy - 1, cx - 1);
      l = on(cy, cx - 1);
    } else {
      r = on(cy - 1, cx);
      l = on(cy - 1, cx - 1);
    }
    const nd = !r ? (d + 1) % 4 : l ? (d + 3) % 4 : d;
    if (cy === sy && cx === sx && nd === 0) break;
    if (nd !== d) out.push([cy - 0.5, cx - 0.5]);
    d = nd;
  }
  return out;
}

/**
 * One polygon per instance id (> 0) of a label image: the outer contour of the id's largest 4-connected piece
 * (other pieces of a fragmented id are left out of the outline; the label image keeps them).
 */
export function labelsToPolygons(labels: Labels2D): Map<number, Polygon> {
  const { height: H, width: W, data } = labels;
  // For each id, the largest 4-connected piece (an instance split in pieces gets the outline of its main body),
  // found in one pass with a flood fill per piece; the piece's raster-first pixel starts the trace.
  const seen = new Uint8Array(data.length);
  const best = new Map<number, { start: number; size: number }>();
  const stack: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const id = data[i];
    if (id <= 0 || seen[i]) continue;
    let size = 0;
    seen[i] = 1;
    stack.push(i);
    while (stack.length) {
      const j = stack.pop() as number;
      size++;
      const y = Math.floor(j / W),
        x = j - y * W;
      if (x > 0 && !seen[j - 1] && data[j - 1] === id) {
        seen[j - 1] = 1;
        stack.push(j - 1);
      }
      if (x < W - 1 && !seen[j + 1] && data[j + 1] === id) {
        seen[j + 1] = 1;
        stack.push(j + 1);
      }
      if (y > 0 && !seen[j - W] && data[j - W] === id) {
        seen[j - W] = 1;
        stack.push(j - W);
      }
      if (y < H - 1 && !seen[j + W] && data[j + W] === id) {
        seen[j + W] = 1;
        stack.push(j + W);
      }
    }
    const b = best.get(id);
    if (!b || size > b.size) best.set(id, { start: i, size });
  }
  const out = new Map<number, Polygon>();
  for (const [id, { start }] of best) {
    const on = (y: number, x: number) => y >= 0 && x >= 0 && y < H && x < W && data[y * W + x] === id;
    out.set(id, traceFrom(on, Math.floor(start / W), start % W, H, W));
  }
  return out;
}
