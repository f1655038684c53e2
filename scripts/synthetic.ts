/**
 * Seeded synthetic nuclei: non-overlapping rotated ellipses on a dark, noisy background.
 * Used by tests (tiny fixtures), the fixture script and smoke benchmarks. Pure, deterministic.
 */
import type { Image2D, Labels2D } from '../server/imaging/types.js';
import { rng } from '../server/imaging/rng.js';

export { rng };

/** Standard normal sample from a uniform PRNG (Box-Muller). */
export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export interface BlobOptions {
  height: number;
  width: number;
  /** Number of objects to try to place (fewer may fit). */
  count: number;
  /** Semi-axis range in pixels. */
  minRadius?: number;
  maxRadius?: number;
  /** Minimum gap between objects in pixels. */
  gap?: number;
  /** Background level, object intensity range and noise sigma (image units 0..1). */
  background?: number;
  intensity?: [number, number];
  noise?: number;
  seed?: number;
}

export interface SyntheticSample {
  image: Image2D;
  /** Dense instance labels: 0 background, 1..n objects (no -1). */
  labels: Labels2D;
  /** Number of objects actually placed. */
  count: number;
}

/** Draw rotated ellipses that do not touch (at least `gap` pixels apart), then add noise. */
export function makeBlobs(opts: BlobOptions): SyntheticSample {
  const { height: H, width: W, count } = opts;
  const rmin = opts.minRadius ?? 4;
  const rmax = opts.maxRadius ?? 8;
  const gap = opts.gap ?? 2;
  const bg = opts.background ?? 0.1;
  const [imin, imax] = opts.intensity ?? [0.5, 0.9];
  const noise = opts.noise ?? 0.03;
  const rand = rng(opts.seed ?? 1);
  const labels = new Int32Array(H * W);
  const img = new Float32Array(H * W).fill(bg);
  let placed = 0;
  for (let attempt = 0; attempt < count * 50 && placed < count; attempt++) {
    const a = rmin + rand() * (rmax - rmin);
    const b = rmin + rand() * (rmax - rmin);
    const th = rand() * Math.PI;
    const cy = a + 1 + rand() * (H - 2 * a - 2);
    const cx = a + 1 + rand() * (W - 2 * a - 2);
    const c = Math.cos(th),
      s = Math.sin(th);
    const R = Math.ceil(Math.max(a, b)) + gap + 1;
    const y0 = Math.max(0, Math.floor(cy - R)),
      y1 = Math.min(H - 1, Math.ceil(cy + R));
    const x0 = Math.max(0, Math.floor(cx - R)),
      x1 = Math.min(W - 1, Math.ceil(cx + R));
    const inside = (y: number, x: number, grow: number) => {
      const dy = y - cy,
        dx = x - cx;
      const u = (dx * c + dy * s) / (a + grow),
        v = (-dx * s + dy * c) / (b + grow);
      return u * u + v * v <= 1;
    };
    let free = true;
    for (let y = y0; y <= y1 && free; y++)
      for (let x = x0; x <= x1; x++)
        if (labels[y * W + x] !== 0 && inside(y, x, gap)) {
          free = false;
          break;
        }
    if (!free) continue;
    placed++;
    const val = imin + rand() * (imax - imin);
    for (let y = y0; y <= y1; y++)
      for (let x = x0; x <= x1; x++)
        if (inside(y, x, 0)) {
          labels[y * W + x] = placed;
          img[y * W + x] = val;
        }
  }
  for (let i = 0; i < img.length; i++) img[i] += noise * gaussian(rand);
  return {
    image: { height: H, width: W, channels: 1, data: img },
    labels: { height: H, width: W, data: labels },
    count: placed,
  };
}

/**
 * Make dense labels sparse: keep the objects whose id is in `keep` (all others become -1), and keep
 * background only where `keepBackground(y, x)` says so (the rest of the background becomes -1).
 */
export function sparsify(labels: Labels2D, keep: (id: number) => boolean, keepBackground: (y: number, x: number) => boolean = () => true): Labels2D {
  const out = new Int32Array(labels.data.length);
  for (let y = 0; y < labels.height; y++)
    for (let x = 0; x < labels.width; x++) {
      const i = y * labels.width + x;
      const v = labels.data[i];
      out[i] = v > 0 ? (keep(v) ? v : -1) : v === 0 ? (keepBackground(y, x) ? 0 : -1) : -1;
    }
  return { height: labels.height, width: labels.width, data: out };
}
