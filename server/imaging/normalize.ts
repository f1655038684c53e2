/**
 * Percentile normalisation, per channel, as csbdeep's normalize(x, 1, 99.8): (x - p_lo) / (p_hi - p_lo + eps).
 * Percentiles use numpy's default linear interpolation. Pure.
 */
import type { Image2D } from './types.js';

export interface NormalizationSettings {
  /** Lower percentile (0..100). */
  pmin: number;
  /** Upper percentile (0..100). */
  pmax: number;
  /** Clip the result to [0, 1]. */
  clip: boolean;
  /** Added to the denominator. */
  eps: number;
}

export const DEFAULT_NORMALIZATION: Readonly<NormalizationSettings> = Object.freeze({ pmin: 1, pmax: 99.8, clip: false, eps: 1e-20 });

export function parseNormalization(partial: Partial<NormalizationSettings> | undefined): NormalizationSettings {
  const s = { ...DEFAULT_NORMALIZATION, ...(partial ?? {}) };
  if (!(s.pmin >= 0 && s.pmin < s.pmax && s.pmax <= 100)) throw new Error(`normalization: need 0 <= pmin < pmax <= 100 (got ${s.pmin}, ${s.pmax})`);
  if (!(s.eps >= 0)) throw new Error('normalization.eps must be >= 0');
  return s;
}

/** Percentiles (numpy 'linear') of `values` for each p in `ps`; NaNs are ignored. */
export function percentiles(values: ArrayLike<number>, ps: number[]): number[] {
  const a = Float32Array.from(values).filter((v) => !Number.isNaN(v)).sort();
  if (a.length === 0) return ps.map(() => 0);
  return ps.map((p) => {
    const idx = (p / 100) * (a.length - 1);
    const lo = Math.floor(idx), hi = Math.ceil(idx);
    return a[lo] + (a[hi] - a[lo]) * (idx - lo);
  });
}

/** Per-channel [lo, hi] percentiles of an image. */
export function channelPercentiles(image: Image2D, pmin: number, pmax: number): Array<[number, number]> {
  const { channels: C, data } = image;
  const n = image.height * image.width;
  const out: Array<[number, number]> = [];
  const buf = new Float32Array(n);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < n; i++) buf[i] = data[i * C + c];
    const [lo, hi] = percentiles(buf, [pmin, pmax]);
    out.push([lo, hi]);
  }
  return out;
}

/** New float32 image normalised per channel. */
export function normalizeImage(image: Image2D, settings: Partial<NormalizationSettings> = {}): Image2D {
  const s = parseNormalization(settings);
  const { channels: C, data } = image;
  const ranges = channelPercentiles(image, s.pmin, s.pmax);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += C)
    for (let c = 0; c < C; c++) {
      const [lo, hi] = ranges[c];
      let v = (data[i + c] - lo) / (hi - lo + s.eps);
      if (s.clip) v = v < 0 ? 0 : v > 1 ? 1 : v;
      out[i + c] = v;
    }
  return { height: image.height, width: image.width, channels: C, data: out };
}
