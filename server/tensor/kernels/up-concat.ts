/**
 * Decoder join in one pass: concat([skip, upsample2x(low)], channels) and its gradient, as plain-JS kernels
 * for the cpu and wasm backends. Replaces upsample + Concat (+ SplitV and the up-sampling gradient in the
 * backward pass), which cost several full passes over the largest tensors on wasm.
 *   UPCONCAT:      inputs {skip [B,H,W,Cs], low [B,H/2,W/2,Cl]} -> [B,H,W,Cs+Cl]
 *   UPCONCAT_GRAD: inputs {dy [B,H,W,Cs+Cl]}, attrs {skipChannels} -> [dSkip [B,H,W,Cs], dLow [B,H/2,W/2,Cl]]
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocF32, viewF32, type HeapBackend } from './heap.js';

export const UPCONCAT = 'SparsecellUpConcat';
export const UPCONCAT_GRAD = 'SparsecellUpConcatGrad';

function upConcat({ inputs: { skip, low }, backend }: { inputs: { skip: TensorInfo; low: TensorInfo }; backend: HeapBackend }): TensorInfo {
  const [B, H, W, Cs] = skip.shape;
  const [Bl, h, w, Cl] = low.shape;
  if (Bl !== B || 2 * h !== H || 2 * w !== W) throw new Error(`upConcat: skip [${skip.shape}] and low [${low.shape}] do not match`);
  const C = Cs + Cl;
  const out = allocF32(backend, [B, H, W, C]);
  const o = viewF32(backend, out);
  const s = viewF32(backend, skip);
  const l = viewF32(backend, low);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < H; y++) {
      const lrow = (b * h + (y >> 1)) * w;
      for (let x = 0; x < W; x++) {
        const p = (b * H + y) * W + x;
        o.set(s.subarray(p * Cs, p * Cs + Cs), p * C);
        const q = (lrow + (x >> 1)) * Cl;
        o.set(l.subarray(q, q + Cl), p * C + Cs);
      }
    }
  return out;
}

function upConcatGrad({ inputs: { dy }, backend, attrs }: { inputs: { dy: TensorInfo }; backend: HeapBackend; attrs: { skipChannels: number } }): TensorInfo[] {
  const [B, H, W, C] = dy.shape;
  const Cs = attrs.skipChannels,
    Cl = C - Cs,
    h = H / 2,
    w = W / 2;
  const dsI = allocF32(backend, [B, H, W, Cs]);
  const dlI = allocF32(backend, [B, h, w, Cl]);
  const ds = viewF32(backend, dsI);
  const dl = viewF32(backend, dlI);
  const g = viewF32(backend, dy);
  dl.fill(0);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < H; y++) {
      const lrow = (b * h + (y >> 1)) * w;
      for (let x = 0; x < W; x++) {
        const p = (b * H + y) * W + x;
        ds.set(g.subarray(p * C, p * C + Cs), p * Cs);
        const q = (lrow + (x >> 1)) * Cl,
          r = p * C + Cs;
        for (let c = 0; c < Cl; c++) dl[q + c] += g[r + c];
      }
    }
  return [dsI, dlI];
}

export function upConcatConfigs(backendName: string): KernelConfig[] {
  return [
    { kernelName: UPCONCAT, backendName, kernelFunc: upConcat as unknown as KernelFunc },
    { kernelName: UPCONCAT_GRAD, backendName, kernelFunc: upConcatGrad as unknown as KernelFunc },
  ];
}
