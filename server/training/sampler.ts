/**
 * Random training patches from sparse labels (pure: typed arrays only, no tfjs).
 *
 * Each patch is anchored on a uniformly drawn LABELED pixel (label >= 0) of a uniformly drawn sample, so
 * every patch contains labeled pixels. Targets: a crop of (patch + targetMargin on each side) is taken from
 * the image (mirrored outside), labels (-1 outside) and weight multiplier; the SAME random dihedral transform
 * (flips / 90-degree rotations) is applied to all three; the family's makeTargets runs on the transformed
 * label crop; then the central patch is kept. Computing targets after the transform keeps direction-dependent
 * targets (StarDist rays, Cellpose flows) correct for every family without family-specific augmentation
 * code; the margin gives objects cut by the patch border their true shape up to `targetMargin` pixels out
 * (StarDist itself computes targets on patches). With a family grid g > 1 (StarDist's grid) the targets and
 * weights are taken at the patch points (g*i, g*j) only, the points the network's output stands for: an unlabeled
 * grid point keeps weight 0, a labeled background one probability 0.
 * Intensity augmentation: x * s + o with s = exp(U(-0.3, 0.3)), o = U(-0.1, 0.1), one draw per patch.
 */
import type { FamilyConfigBase, ModelFamily } from '../models/model-family.js';
import type { Image2D, Labels2D } from '../imaging/types.js';
import { reflectIndex } from '../imaging/tiling.js';
import { rng } from '../imaging/rng.js';
import type { AugmentOptions } from './config.js';

export interface TrainingSample {
  /** Already normalised image. */
  image: Image2D;
  /** Signed sparse labels (-1 unlabeled, 0 background, k instance), same size as the image. */
  labels: Labels2D;
  /** Optional per-pixel multiplier of every loss weight (e.g. correction strokes), H*W. */
  weightMultiplier?: Float32Array;
}

/** One batch, channels-last, ready for tf.tensor4d. */
export interface Batch {
  batchSize: number;
  height: number;
  width: number;
  x: Float32Array;
  xChannels: number;
  /** Targets and weights are (height/grid) x (width/grid): StarDist's grid (absent = 1). */
  grid?: number;
  target: Float32Array;
  targetChannels: number;
  weight: Float32Array;
  weightChannels: number;
}

/** What train() consumes. */
export interface BatchSource {
  next(): Batch;
}

export interface SamplerOptions {
  patchSize: number;
  batchSize: number;
  seed: number;
  augment: AugmentOptions;
  targetMargin: number;
  /** Patch sides are multiples of this (grid * 2^unetDepth). */
  divisor: number;
}

interface Prepared {
  sample: TrainingSample;
  labeled: Int32Array;
}

export class PatchSampler<C extends FamilyConfigBase> implements BatchSource {
  readonly patchSize: number;
  private readonly prepared: Prepared[];
  private readonly rand: () => number;
  private readonly channels: number;
  private readonly grid: number;

  constructor(
    samples: TrainingSample[],
    private readonly family: ModelFamily<C>,
    private readonly config: C,
    private readonly opts: SamplerOptions,
  ) {
    if (samples.length === 0) throw new Error('sampler: no training samples');
    const d = Math.max(1, opts.divisor);
    this.grid = family.grid?.(config) ?? 1;
    if (d % this.grid) throw new Error(`sampler: divisor ${d} is not a multiple of the grid ${this.grid}`);
    this.channels = samples[0].image.channels;
    let maxSide = 0;
    this.prepared = [];
    for (const [i, s] of samples.entries()) {
      const { height: H, width: W } = s.image;
      if (s.labels.height !== H || s.labels.width !== W) throw new Error(`sampler: sample ${i} labels ${s.labels.height}x${s.labels.width} != image ${H}x${W}`);
      if (s.image.channels !== this.channels) throw new Error(`sampler: sample ${i} has ${s.image.channels} channels, expected ${this.channels}`);
      if (s.weightMultiplier && s.weightMultiplier.length !== H * W) throw new Error(`sampler: sample ${i} weightMultiplier has the wrong size`);
      let n = 0;
      for (let p = 0; p < H * W; p++) if (s.labels.data[p] >= 0) n++;
      if (n === 0) continue;
      const labeled = new Int32Array(n);
      n = 0;
      for (let p = 0; p < H * W; p++) if (s.labels.data[p] >= 0) labeled[n++] = p;
      this.prepared.push({ sample: s, labeled });
      maxSide = Math.max(maxSide, H, W);
    }
    if (this.prepared.length === 0) throw new Error('sampler: no labeled pixels in any sample');
    const p = Math.min(Math.floor(opts.patchSize / d) * d, Math.ceil(maxSide / d) * d);
    if (p < d) throw new Error(`sampler: patchSize ${opts.patchSize} is smaller than ${d}`);
    this.patchSize = p;
    this.rand = rng(opts.seed);
  }

  next(): Batch {
    const B = this.opts.batchSize,
      P = this.patchSize,
      C = this.channels,
      Q = P / this.grid;
    let x: Float32Array | undefined, target: Float32Array | undefined, weight: Float32Array | undefined;
    let targetChannels = 0,
      weightChannels = 0;
    for (let b = 0; b < B; b++) {
      const patch = this.patch();
      if (!x) {
        targetChannels = patch.targetChannels;
        weightChannels = patch.weightChannels;
        x = new Float32Array(B * P * P * C);
        target = new Float32Array(B * Q * Q * targetChannels);
        weight = new Float32Array(B * Q * Q * weightChannels);
      }
      x.set(patch.x, b * P * P * C);
      target!.set(patch.target, b * Q * Q * targetChannels);
      weight!.set(patch.weight, b * Q * Q * weightChannels);
    }
    const grid = this.grid > 1 ? { grid: this.grid } : {};
    return { batchSize: B, height: P, width: P, x: x!, xChannels: C, ...grid, target: target!, targetChannels, weight: weight!, weightChannels };
  }

  /** One augmented patch with its targets (at the grid points when grid > 1). */
  patch(): { x: Float32Array; target: Float32Array; targetChannels: number; weight: Float32Array; weightChannels: number } {
    const r = this.rand;
    const { sample, labeled } = this.prepared[Math.floor(r() * this.prepared.length)];
    const { height: H, width: W } = sample.image;
    const P = this.patchSize,
      M = this.opts.targetMargin,
      S = P + 2 * M,
      C = this.channels;
    const anchor = labeled[Math.floor(r() * labeled.length)];
    const ay = Math.floor(anchor / W),
      ax = anchor % W;
    const py = H >= P ? Math.min(Math.max(ay - Math.floor(r() * P), 0), H - P) : 0;
    const px = W >= P ? Math.min(Math.max(ax - Math.floor(r() * P), 0), W - P) : 0;

    // dihedral transform: output (y, x) reads source (sy, sx) of the S x S crop
    const aug = this.opts.augment;
    let transpose = false,
      flipY = false,
      flipX = false;
    if (aug.rot90) {
      const k = Math.floor(r() * 4);
      if (k === 1) {
        transpose = true;
        flipX = true;
      } else if (k === 2) {
        flipY = true;
        flipX = true;
      } else if (k === 3) {
        transpose = true;
        flipY = true;
      }
    }
    if (aug.flips && r() < 0.5) flipX = !flipX;
    if (aug.flips && r() < 0.5) flipY = !flipY;
    let scale = 1,
      shift = 0;
    if (aug.intensity) {
      scale = Math.exp((r() * 2 - 1) * 0.3);
      shift = (r() * 2 - 1) * 0.1;
    }

    const y0 = py - M,
      x0 = px - M;
    const lab = new Int32Array(S * S);
    const mult = sample.weightMultiplier ? new Float32Array(S * S) : undefined;
    const xs = new Float32Array(P * P * C);
    const img = sample.image.data,
      src = sample.labels.data;
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        let sy = transpose ? x : y,
          sx = transpose ? y : x;
        if (flipY) sy = S - 1 - sy;
        if (flipX) sx = S - 1 - sx;
        const iy = y0 + sy,
          ix = x0 + sx;
        const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
        const o = y * S + x;
        lab[o] = inside ? src[iy * W + ix] : -1;
        if (mult) mult[o] = inside ? sample.weightMultiplier![iy * W + ix] : 0;
        if (y >= M && y < M + P && x >= M && x < M + P) {
          const q = ((y - M) * P + (x - M)) * C;
          const s = (reflectIndex(iy, H) * W + reflectIndex(ix, W)) * C;
          for (let c = 0; c < C; c++) xs[q + c] = img[s + c] * scale + shift;
        }
      }
    const t = this.family.makeTargets({ height: S, width: S, data: lab }, this.config, [M, M, M + P, M + P]);
    const tc = t.targetChannels,
      wc = t.weightChannels;
    const g = this.grid,
      Q = P / g;
    const target = new Float32Array(Q * Q * tc);
    const weight = new Float32Array(Q * Q * wc);
    for (let y = 0; y < Q; y++) {
      const so = (g * y + M) * S + M;
      if (g === 1) {
        target.set(t.target.subarray(so * tc, (so + P) * tc), y * P * tc);
        weight.set(t.weight.subarray(so * wc, (so + P) * wc), y * P * wc);
      } else
        for (let x = 0; x < Q; x++) {
          const s = so + g * x,
            o = y * Q + x;
          for (let c = 0; c < tc; c++) target[o * tc + c] = t.target[s * tc + c];
          for (let c = 0; c < wc; c++) weight[o * wc + c] = t.weight[s * wc + c];
        }
      if (mult)
        for (let x = 0; x < Q; x++) {
          const m = mult[so + g * x];
          for (let c = 0; c < wc; c++) weight[(y * Q + x) * wc + c] *= m;
        }
    }
    return { x: xs, target, targetChannels: tc, weight, weightChannels: wc };
  }
}
