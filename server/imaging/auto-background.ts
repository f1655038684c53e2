/**
 * Auto background (optional per session, off by default), after cellsparse's include_bg idea: unlabeled pixels
 * in a ring just outside each annotated object are taken as background when they are darker than a threshold
 * learned from the person's own labels (midpoint between the mean labeled-background intensity and the mean
 * labeled-object intensity; with no background labels, the mean object intensity minus 2 SD).
 *
 * Risk (documented in README): in crowded images the ring can cover an unannotated neighbour touching the
 * object; the intensity test removes bright neighbours but a dim neighbour would be taught as background.
 * Pure: typed arrays in, a new label array out.
 */
import { pixelMean, type Image2D, type Labels2D } from './types.js';

export interface AutoBackgroundOptions {
  /** Ring from `gap` to `gap + width` pixels (Chebyshev) outside each object. */
  gap: number;
  width: number;
}

export const AUTO_BACKGROUND_DEFAULTS: AutoBackgroundOptions = { gap: 2, width: 4 };

export function autoBackground(labels: Labels2D, image: Image2D, opts: AutoBackgroundOptions = AUTO_BACKGROUND_DEFAULTS): Labels2D {
  const { height: H, width: W } = labels;
  const C = image.channels;
  const L = labels.data;
  const intensity = (i: number) => pixelMean(image.data, i, C);
  let bgS = 0,
    bgN = 0,
    obS = 0,
    obS2 = 0,
    obN = 0;
  for (let i = 0; i < L.length; i++) {
    if (L[i] === 0) {
      bgS += intensity(i);
      bgN++;
    } else if (L[i] > 0) {
      const v = intensity(i);
      obS += v;
      obS2 += v * v;
      obN++;
    }
  }
  const out = new Int32Array(L);
  if (obN === 0) return { height: H, width: W, data: out };
  const obMean = obS / obN;
  const obSd = Math.sqrt(Math.max(0, obS2 / obN - obMean * obMean));
  const thresh = bgN > 0 ? (bgS / bgN + obMean) / 2 : obMean - 2 * obSd;
  // Chebyshev distance to the nearest object pixel, up to gap + width, by two separable max-filter passes.
  const R = opts.gap + opts.width;
  const dist = new Int32Array(H * W).fill(R + 1);
  for (let i = 0; i < L.length; i++) if (L[i] > 0) dist[i] = 0;
  const tmp = new Int32Array(H * W);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let m = R + 1;
      for (let dx = -R; dx <= R; dx++) {
        const xx = x + dx;
        if (xx >= 0 && xx < W && dist[y * W + xx] === 0) m = Math.min(m, Math.abs(dx));
      }
      tmp[y * W + x] = m;
    }
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let m = R + 1;
      for (let dy = -R; dy <= R; dy++) {
        const yy = y + dy;
        if (yy >= 0 && yy < H) m = Math.min(m, Math.max(Math.abs(dy), tmp[yy * W + x]));
      }
      const i = y * W + x;
      if (out[i] === -1 && m > opts.gap && m <= R && intensity(i) < thresh) out[i] = 0;
    }
  return { height: H, width: W, data: out };
}
