/**
 * Exact Euclidean distance transforms (Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled
 * Functions", 2012): a 1-D lower-envelope-of-parabolas pass along columns, then along rows. O(pixels).
 * Pure: typed arrays in, typed arrays out.
 */
import type { Labels2D } from './types.js';
import { boundingBoxes } from './labels.js';

const INF = 1e20;

/**
 * 1-D squared distance transform of f (length n, read with stride) into d (same addressing).
 * v, z, buf are scratch arrays of length >= n, n+1, n.
 */
function dt1d(f: Float64Array, off: number, stride: number, n: number, v: Int32Array, z: Float64Array, buf: Float64Array): void {
  for (let q = 0; q < n; q++) buf[q] = f[off + q * stride];
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    const fq = buf[q] + q * q;
    let s = (fq - (buf[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    while (s <= z[k]) {
      k--;
      s = (fq - (buf[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    const dq = q - v[k];
    f[off + q * stride] = dq * dq + buf[v[k]];
  }
}

/** In-place 2-D squared EDT of a sampled function g (0 at sites, INF elsewhere), H x W row-major. */
function sqdt2d(g: Float64Array, H: number, W: number): void {
  const n = Math.max(H, W);
  const v = new Int32Array(n),
    z = new Float64Array(n + 1),
    buf = new Float64Array(n);
  for (let x = 0; x < W; x++) dt1d(g, x, W, H, v, z, buf);
  for (let y = 0; y < H; y++) dt1d(g, y * W, 1, W, v, z, buf);
}

/**
 * Euclidean distance of every pixel to the nearest pixel where `mask` is zero (0 on those pixels), like
 * scipy.ndimage.distance_transform_edt: the image border is NOT background. If the mask has no zero pixel,
 * every value is +Infinity. With `squared`, squared distances are returned (exact integers).
 */
export function edt(mask: ArrayLike<number> | ArrayLike<boolean>, height: number, width: number, squared = false): Float32Array {
  const n = height * width;
  const g = new Float64Array(n);
  let anySite = false;
  for (let i = 0; i < n; i++) {
    if (mask[i]) g[i] = INF;
    else {
      g[i] = 0;
      anySite = true;
    }
  }
  const out = new Float32Array(n);
  if (!anySite) {
    out.fill(n === 0 ? 0 : Infinity);
    return out;
  }
  sqdt2d(g, height, width);
  for (let i = 0; i < n; i++) out[i] = squared ? g[i] : Math.sqrt(g[i]);
  return out;
}

/**
 * Per-instance EDT: for each pixel of instance k, the distance to the nearest pixel that is NOT k
 * (background, another instance, or unlabeled -1 alike); 0 on every pixel <= 0. The image border is not
 * a boundary (an object cut by the border keeps growing distances towards it), as stardist's `edt_prob`.
 * An object that fills the whole image gets +Infinity (ill-defined, as stardist warns).
 */
export function instanceEdt(labels: Labels2D): Float32Array {
  const { height: H, width: W, data } = labels;
  const out = new Float32Array(H * W);
  for (const [id, b] of boundingBoxes(labels)) {
    // Grow the bbox by one pixel (clipped to the image): the ring holds only non-k pixels, so the nearest
    // non-k pixel of any object pixel lies inside the grown box (clamping to a box is non-expansive).
    const y0 = Math.max(0, b.y0 - 1),
      y1 = Math.min(H - 1, b.y1 + 1);
    const x0 = Math.max(0, b.x0 - 1),
      x1 = Math.min(W - 1, b.x1 + 1);
    const h = y1 - y0 + 1,
      w = x1 - x0 + 1;
    const g = new Float64Array(h * w);
    let anySite = false;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const inside = data[(y + y0) * W + x + x0] === id;
        g[y * w + x] = inside ? INF : 0;
        if (!inside) anySite = true;
      }
    if (!anySite) {
      for (let i = 0; i < out.length; i++) if (data[i] === id) out[i] = Infinity;
      continue;
    }
    sqdt2d(g, h, w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const j = (y + y0) * W + x + x0;
        if (data[j] === id) out[j] = Math.sqrt(g[y * w + x]);
      }
  }
  return out;
}

/**
 * StarDist's object probability target (`edt_prob`): per-instance EDT divided by that instance's maximum
 * (+1e-10), so each object peaks at ~1 in its "centre"; 0 on background and unlabeled pixels.
 */
export function normalizedInstanceEdt(labels: Labels2D): Float32Array {
  const d = instanceEdt(labels);
  const maxima = new Map<number, number>();
  const lab = labels.data;
  for (let i = 0; i < d.length; i++) {
    const v = lab[i];
    if (v > 0) {
      const m = maxima.get(v);
      if (m === undefined || d[i] > m) maxima.set(v, d[i]);
    }
  }
  for (let i = 0; i < d.length; i++) {
    const v = lab[i];
    if (v > 0) {
      const m = maxima.get(v) as number;
      d[i] = Number.isFinite(m) ? d[i] / (m + 1e-10) : 1;
    }
  }
  return d;
}
