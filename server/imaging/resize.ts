/**
 * Image rescaling (pure): bilinear for intensities, nearest neighbour for labels and loss weights. Used for Cellpose-style object
 * diameter rescaling: images are scaled so that objects have the model's mean diameter.
 */
import type { Image2D, Labels2D, Instance } from './types.js';

/** Scaled size of a side, at least 1 pixel. */
export const scaledSize = (n: number, s: number) => Math.max(1, Math.round(n * s));

/** Bilinear resize to (h, w), pixel centres aligned (like skimage / cv2 INTER_LINEAR). */
export function resizeImage(img: Image2D, h: number, w: number): Image2D {
  const { height: H, width: W, channels: C, data } = img;
  if (h === H && w === W) return img;
  const out = new Float32Array(h * w * C);
  const sy = H / h,
    sx = W / w;
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), H - 1);
    const y0 = Math.floor(fy),
      y1 = Math.min(y0 + 1, H - 1),
      ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), W - 1);
      const x0 = Math.floor(fx),
        x1 = Math.min(x0 + 1, W - 1),
        tx = fx - x0;
      for (let c = 0; c < C; c++) {
        const a = data[(y0 * W + x0) * C + c],
          b = data[(y0 * W + x1) * C + c];
        const d = data[(y1 * W + x0) * C + c],
          e = data[(y1 * W + x1) * C + c];
        out[(y * w + x) * C + c] = (a * (1 - tx) + b * tx) * (1 - ty) + (d * (1 - tx) + e * tx) * ty;
      }
    }
  }
  return { height: h, width: w, channels: C, data: out };
}

/** Nearest-neighbour resize of a one-value-per-pixel map (labels, loss weights) from (H, W) to (h, w). */
export function resizeNearest<T extends Int32Array | Float32Array>(data: T, H: number, W: number, h: number, w: number): T {
  if (h === H && w === W) return data;
  const out = new (data.constructor as new (n: number) => T)(h * w);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(H - 1, Math.floor(((y + 0.5) * H) / h));
    for (let x = 0; x < w; x++) out[y * w + x] = data[sy * W + Math.min(W - 1, Math.floor(((x + 0.5) * W) / w))];
  }
  return out;
}

/** Nearest-neighbour resize of labels to (h, w). */
export function resizeLabels(l: Labels2D, h: number, w: number): Labels2D {
  if (h === l.height && w === l.width) return l;
  return { height: h, width: w, data: resizeNearest(l.data, l.height, l.width, h, w) };
}

/** Polygons drawn on an image scaled by s, mapped back to the original pixel grid. */
export function unscalePolygons(polys: Instance[], s: number): Instance[] {
  return polys.map((p) => ({ ...p, points: p.points.map(([y, x]) => [(y + 0.5) / s - 0.5, (x + 0.5) / s - 0.5] as [number, number]) }));
}
