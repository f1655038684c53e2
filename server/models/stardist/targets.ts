/**
 * StarDist-like training targets from SPARSE signed labels (-1 unlabeled, 0 background, k instance). Pure.
 *
 * Layout (channels-last, the engine's masked loss is coded against it):
 *   target channels = [prob, d_1 .. d_nRays]   (targetChannels = 1 + nRays)
 *   weight channels = [wProb, wDist]            (weightChannels = 2)
 *   prob  = per-instance EDT / its max (stardist `edt_prob`), 0 on background and unlabeled pixels
 *   d_r   = star distance along ray r (angle 2*pi*(r-1)/nRays, row offset sin, column offset cos), 0 off objects
 *   wProb = 1 on every labeled pixel (background or instance), 0 on unlabeled (-1)
 *   wDist = prob on instance pixels, 0 elsewhere (stardist's `dist_mask`)
 *
 * Sparse labels (what we do, documented): an instance is taken to be COMPLETE wherever it is painted. Its
 * EDT and its rays only look at its own pixels: they stop at the first pixel that is not the same id, be it
 * background, another instance, unlabeled (-1) or outside the image. An unlabeled neighbour is therefore
 * treated like any "not me" pixel for the geometry of a labeled object (exactly what stardist-sparse does by
 * mapping -1 to 0 before computing targets), but it is NOT treated as known background for the probability
 * loss: -1 pixels get weight 0 in both channels, so they contribute exactly zero loss and gradient.
 * Differences to stardist: the EDT does not treat the image border as background (as stardist's edt_prob);
 * the rays do stop at the border (as stardist's star_dist).
 */
import type { Labels2D } from '../../imaging/types.js';
import type { TargetMaps } from '../model-family.js';
import { normalizedInstanceEdt } from '../../imaging/edt.js';
import type { StarDistConfig } from './config.js';

/** cos/sin tables for nRays rays: ray r has row step sin(phi_r) and column step cos(phi_r). */
export function rayDirections(nRays: number): { dy: Float64Array; dx: Float64Array } {
  const dy = new Float64Array(nRays),
    dx = new Float64Array(nRays);
  for (let r = 0; r < nRays; r++) {
    const phi = (2 * Math.PI * r) / nRays;
    dy[r] = Math.sin(phi);
    dx[r] = Math.cos(phi);
  }
  return { dy, dx };
}

/**
 * Star distances like stardist's c_star_dist: from each instance pixel, march along each ray in unit steps
 * (rounding to the nearest pixel) until the pixel is outside the image or not the same id, then step back by
 * (1 - 0.5/max(|dy|,|dx|)) of a step (sub-pixel correction to the boundary). Returns H*W*nRays, 0 where
 * the label is <= 0.
 */
/**
 * Star distances of every instance pixel (only inside roi = [y0, x0, y1, x1] when given; 0 elsewhere). With
 * grid g > 1, only at the points (y0 + g*i, x0 + g*j) (StarDist's grid; 0 elsewhere).
 */
export function starDistances(labels: Labels2D, nRays: number, roi?: [number, number, number, number], grid = 1): Float32Array {
  const { height: H, width: W, data } = labels;
  const out = new Float32Array(H * W * nRays);
  const { dy, dx } = rayDirections(nRays);
  const corr = new Float64Array(nRays);
  for (let r = 0; r < nRays; r++) corr[r] = 1 - 0.5 / Math.max(Math.abs(dy[r]), Math.abs(dx[r]));
  const [ry0, rx0, ry1, rx1] = roi ?? [0, 0, H, W];
  const first = (r0: number) => (r0 >= 0 ? r0 : r0 + Math.ceil(-r0 / grid) * grid); // the first lattice point >= 0
  for (let i = first(ry0); i < Math.min(H, ry1); i += grid) {
    for (let j = first(rx0); j < Math.min(W, rx1); j += grid) {
      const p = i * W + j;
      const v = data[p];
      if (v <= 0) continue;
      const o = p * nRays;
      for (let r = 0; r < nRays; r++) {
        const sy = dy[r],
          sx = dx[r];
        let y = 0,
          x = 0;
        for (;;) {
          y += sy;
          x += sx;
          // (stardist rounds with lrint, half to even; Math.round rounds half up: exact .5 ties are rare)
          const ii = Math.round(i + y),
            jj = Math.round(j + x);
          if (ii < 0 || ii >= H || jj < 0 || jj >= W || data[ii * W + jj] !== v) {
            y -= corr[r] * sy;
            x -= corr[r] * sx;
            out[o + r] = Math.sqrt(y * y + x * x);
            break;
          }
        }
      }
    }
  }
  return out;
}

/**
 * Build the StarDist targets and weights for one (sparse) label image; see the file comment for layout. With
 * config.grid g > 1 the distances are computed only at the grid points (roi origin + g*k, see starDistances):
 * the caller samples the maps there (training/sampler.ts); elsewhere they are 0.
 */
export function makeTargets(labels: Labels2D, config: Pick<StarDistConfig, 'nRays'> & { grid?: number }, roi?: [number, number, number, number]): TargetMaps {
  const { height: H, width: W, data } = labels;
  const nRays = config.nRays;
  if (data.length !== H * W) throw new Error(`labels: data has ${data.length} values, expected ${H}x${W}`);
  const tc = 1 + nRays;
  const prob = normalizedInstanceEdt(labels);
  const dist = starDistances(labels, nRays, roi, config.grid ?? 1);
  const target = new Float32Array(H * W * tc);
  const weight = new Float32Array(H * W * 2);
  for (let p = 0; p < H * W; p++) {
    const v = data[p];
    if (v < -1) throw new Error(`labels: value ${v} < -1 at index ${p}`);
    if (v > 0) {
      const o = p * tc;
      target[o] = prob[p];
      target.set(dist.subarray(p * nRays, (p + 1) * nRays), o + 1);
      weight[2 * p] = 1;
      weight[2 * p + 1] = prob[p];
    } else if (v === 0) {
      weight[2 * p] = 1;
    }
    // v === -1: everything stays exactly 0
  }
  return { height: H, width: W, target, targetChannels: tc, weight, weightChannels: 2 };
}
