/**
 * The StarDist masked loss and its gradient in one plain-JS pass (cpu and wasm backends). Same formula as
 * the tf-ops version in models/stardist/model.ts (which other backends use and the tests compare against):
 *   loss = sum(wP * bce(z, p)) / max(sum(wP), 1) + distWeight * sum(wD * mean_r |d_r - dhat_r|) / max(sum(wD), 1e-6)
 *   dloss/dz = wP * (sigmoid(z) - p) / nP;  dloss/ddhat_r = distWeight * wD / nD / nRays * sign(dhat_r - d_r)
 * inputs {pred, target [B,H,W,1+nRays], weight [B,H,W,2]}, attrs {nRays, distWeight} -> [loss [], dPred].
 * Pixels with zero weights get exactly zero gradient.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocF32, viewF32, type HeapBackend } from './heap.js';

export const STARDIST_LOSS = 'SparsecellStarDistLoss';

function starDistLoss({
  inputs: { pred, target, weight },
  backend,
  attrs,
}: {
  inputs: { pred: TensorInfo; target: TensorInfo; weight: TensorInfo };
  backend: HeapBackend;
  attrs: { nRays: number; distWeight: number };
}): TensorInfo[] {
  const n = attrs.nRays,
    C = 1 + n;
  const lossI = allocF32(backend, []);
  const gradI = allocF32(backend, pred.shape.slice());
  const L = viewF32(backend, lossI);
  const g = viewF32(backend, gradI);
  const z = viewF32(backend, pred),
    t = viewF32(backend, target),
    w = viewF32(backend, weight);
  const P = z.length / C;
  let sP = 0,
    sD = 0;
  for (let p = 0; p < P; p++) {
    sP += w[2 * p];
    sD += w[2 * p + 1];
  }
  const nP = Math.max(sP, 1),
    nD = Math.max(sD, 1e-6),
    dw = attrs.distWeight;
  let lossP = 0,
    lossD = 0;
  const kD = dw / nD / n;
  for (let p = 0; p < P; p++) {
    const o = p * C;
    const wp = w[2 * p],
      wd = w[2 * p + 1];
    if (wp !== 0) {
      const zz = z[o],
        pp = t[o];
      const e = Math.exp(-Math.abs(zz));
      lossP += wp * ((zz > 0 ? zz : 0) - zz * pp + Math.log1p(e));
      const sig = zz >= 0 ? 1 / (1 + e) : e / (1 + e);
      g[o] = (wp * (sig - pp)) / nP;
    } else g[o] = 0;
    if (wd !== 0) {
      let l1 = 0;
      const k = wd * kD;
      for (let r = 1; r <= n; r++) {
        const diff = z[o + r] - t[o + r];
        l1 += Math.abs(diff);
        g[o + r] = diff > 0 ? k : diff < 0 ? -k : 0;
      }
      lossD += (wd * l1) / n;
    } else g.fill(0, o + 1, o + C);
  }
  L[0] = lossP / nP + (dw * lossD) / nD;
  return [lossI, gradI];
}

export function starDistLossConfig(backendName: string): KernelConfig {
  return { kernelName: STARDIST_LOSS, backendName, kernelFunc: starDistLoss as unknown as KernelFunc };
}
