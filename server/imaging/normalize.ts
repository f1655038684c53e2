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
  /**
   * Dark objects on a bright background: the normalised value v becomes 1 - v (before clipping), so a model that
   * learned bright nuclei sees them bright. Set by a starter's input adaptation (training/adapt.ts); absent = false.
   */
  invert?: boolean;
}

export const DEFAULT_NORMALIZATION: Readonly<NormalizationSettings> = Object.freeze({ pmin: 1, pmax: 99.8, clip: false, eps: 1e-20 });

export function parseNormalization(partial: Partial<NormalizationSettings> | undefined): NormalizationSettings {
  const s = { ...DEFAULT_NORMALIZATION, ...(partial ?? {}) };
  if (!(s.pmin >= 0 && s.pmin < s.pmax && s.pmax <= 100)) throw new Error(`normalization: need 0 <= pmin < pmax <= 100 (got ${s.pmin}, ${s.pmax})`);
  if (!(s.eps >= 0)) throw new Error('normalization.eps must be >= 0');
  if (s.invert !== undefined && typeof s.invert !== 'boolean') throw new Error('normalization.invert must be true or false');
  return s;
}

/** Percentiles (numpy 'linear') of `values` for each p in `ps`; NaNs are ignored. */
export function percentiles(values: ArrayLike<number>, ps: number[]): number[] {
  const a = Float32Array.from(values)
    .filter((v) => !Number.isNaN(v))
    .sort();
  if (a.length === 0) return ps.map(() => 0);
  return ps.map((p) => {
    const idx = (p / 100) * (a.length - 1);
    const lo = Math.floor(idx),
      hi = Math.ceil(idx);
    return a[lo] + (a[hi] - a[lo]) * (idx - lo);
  });
}

/** Per-channel [lo, hi] percentiles over all pixels of one or more images (a stack's planes). */
export function channelPercentiles(images: Image2D | readonly Image2D[], pmin: number, pmax: number): Array<[number, number]> {
  const list = Array.isArray(images) ? (images as readonly Image2D[]) : [images as Image2D];
  const C = list[0].channels;
  const n = list.reduce((a, im) => a + im.height * im.width, 0);
  const out: Array<[number, number]> = [];
  const buf = new Float32Array(n);
  for (let c = 0; c < C; c++) {
    let k = 0;
    for (const { data } of list) for (let i = c; i < data.length; i += C) buf[k++] = data[i];
    const [lo, hi] = percentiles(buf, [pmin, pmax]);
    out.push([lo, hi]);
  }
  return out;
}

function applyRanges(image: Image2D, ranges: Array<[number, number]>, s: NormalizationSettings): Image2D {
  const { channels: C, data } = image;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += C)
    for (let c = 0; c < C; c++) {
      const [lo, hi] = ranges[c];
      let v = (data[i + c] - lo) / (hi - lo + s.eps);
      if (s.invert) v = 1 - v;
      if (s.clip) v = v < 0 ? 0 : v > 1 ? 1 : v;
      out[i + c] = v;
    }
  return { height: image.height, width: image.width, channels: C, data: out };
}

/** New float32 image normalised per channel. */
export function normalizeImage(image: Image2D, settings: Partial<NormalizationSettings> = {}): Image2D {
  const s = parseNormalization(settings);
  return applyRanges(image, channelPercentiles(image, s.pmin, s.pmax), s);
}

/**
 * The planes of a Z or T stack normalised together, as csbdeep normalises a volume: one pair of percentiles per
 * channel over the whole stack, so an empty plane stays dark instead of having its noise stretched to 0..1.
 */
export function normalizeStack(planes: readonly Image2D[], settings: Partial<NormalizationSettings> = {}): Image2D[] {
  const s = parseNormalization(settings);
  if (planes.length === 0) return [];
  if (planes.some((p) => p.channels !== planes[0].channels)) throw new Error('normalizeStack: planes differ in channel count');
  const ranges = channelPercentiles(planes, s.pmin, s.pmax);
  return planes.map((p) => applyRanges(p, ranges, s));
}
