/**
 * 2x2 max-pool (stride 2) and 2x nearest up-sampling, with their gradients, as plain-JS kernels on the
 * cpu and wasm backends (zero-copy on the wasm heap). They replace MaxPool/ResizeNearestNeighbor because
 * wasm MaxPoolGrad loses the gradient when the window max is <= 0 and cpu ResizeNearestNeighborGrad is wrong
 * for batch > 1 (tfjs 4.22).
 *
 * Tie rule for the pool gradient: the FIRST maximum in window order (0,0),(0,1),(1,0),(1,1) receives dy.
 * Layout NHWC; H and W must be even for the pool.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocF32, viewF32, type HeapBackend } from './heap.js';

export const MAXPOOL2X2 = 'SparsecellMaxPool2x2';
export const MAXPOOL2X2_GRAD = 'SparsecellMaxPool2x2Grad';
export const UPSAMPLE2X = 'SparsecellUpsample2x';
export const UPSAMPLE2X_GRAD = 'SparsecellUpsample2xGrad';

type Args<I> = { inputs: I; backend: HeapBackend; attrs?: object };

function maxPool2x2({ inputs: { x }, backend }: Args<{ x: TensorInfo }>): TensorInfo {
  const [B, H, W, C] = x.shape;
  if (H % 2 || W % 2) throw new Error(`maxPool2x2: spatial size ${H}x${W} is not even`);
  const h = H / 2,
    w = W / 2;
  const out = allocF32(backend, [B, h, w, C]);
  const o = viewF32(backend, out);
  const xv = viewF32(backend, x);
  const row = W * C;
  let k = 0;
  for (let b = 0; b < B; b++)
    for (let y = 0; y < h; y++) {
      const r0 = (b * H + 2 * y) * row;
      for (let xx = 0; xx < w; xx++) {
        const p00 = r0 + 2 * xx * C,
          p01 = p00 + C,
          p10 = p00 + row,
          p11 = p10 + C;
        for (let c = 0; c < C; c++) {
          let m = xv[p00 + c];
          const v1 = xv[p01 + c];
          if (v1 > m) m = v1;
          const v2 = xv[p10 + c];
          if (v2 > m) m = v2;
          const v3 = xv[p11 + c];
          if (v3 > m) m = v3;
          o[k++] = m;
        }
      }
    }
  return out;
}

function maxPool2x2Grad({ inputs: { dy, x }, backend }: Args<{ dy: TensorInfo; x: TensorInfo }>): TensorInfo {
  const [B, H, W, C] = x.shape;
  const h = H / 2,
    w = W / 2;
  const out = allocF32(backend, [B, H, W, C]);
  const dx = viewF32(backend, out);
  const xv = viewF32(backend, x);
  const g = viewF32(backend, dy);
  dx.fill(0);
  const row = W * C;
  let k = 0;
  for (let b = 0; b < B; b++)
    for (let y = 0; y < h; y++) {
      const r0 = (b * H + 2 * y) * row;
      for (let xx = 0; xx < w; xx++) {
        const p00 = r0 + 2 * xx * C,
          p01 = p00 + C,
          p10 = p00 + row,
          p11 = p10 + C;
        for (let c = 0; c < C; c++) {
          let m = xv[p00 + c],
            at = p00 + c;
          const v1 = xv[p01 + c];
          if (v1 > m) {
            m = v1;
            at = p01 + c;
          }
          const v2 = xv[p10 + c];
          if (v2 > m) {
            m = v2;
            at = p10 + c;
          }
          const v3 = xv[p11 + c];
          if (v3 > m) {
            at = p11 + c;
          }
          dx[at] = g[k++];
        }
      }
    }
  return out;
}

function upsample2x({ inputs: { x }, backend }: Args<{ x: TensorInfo }>): TensorInfo {
  const [B, h, w, C] = x.shape;
  const H = 2 * h,
    W = 2 * w;
  const out = allocF32(backend, [B, H, W, C]);
  const o = viewF32(backend, out);
  const xv = viewF32(backend, x);
  const row = W * C;
  for (let b = 0; b < B; b++)
    for (let y = 0; y < h; y++) {
      const src = (b * h + y) * w * C;
      const d0 = (b * H + 2 * y) * row;
      for (let xx = 0; xx < w; xx++) {
        const s = src + xx * C,
          d = d0 + 2 * xx * C;
        for (let c = 0; c < C; c++) {
          const v = xv[s + c];
          o[d + c] = v;
          o[d + C + c] = v;
        }
      }
      o.copyWithin(d0 + row, d0, d0 + row);
    }
  return out;
}

function upsample2xGrad({ inputs: { dy }, backend }: Args<{ dy: TensorInfo }>): TensorInfo {
  const [B, H, W, C] = dy.shape;
  const h = H / 2,
    w = W / 2;
  const out = allocF32(backend, [B, h, w, C]);
  const dx = viewF32(backend, out);
  const g = viewF32(backend, dy);
  const row = W * C;
  let k = 0;
  for (let b = 0; b < B; b++)
    for (let y = 0; y < h; y++) {
      const r0 = (b * H + 2 * y) * row;
      for (let xx = 0; xx < w; xx++) {
        const p00 = r0 + 2 * xx * C,
          p01 = p00 + C,
          p10 = p00 + row,
          p11 = p10 + C;
        for (let c = 0; c < C; c++) dx[k++] = g[p00 + c] + g[p01 + c] + g[p10 + c] + g[p11 + c];
      }
    }
  return out;
}

export function poolUpsampleConfigs(backendName: string): KernelConfig[] {
  return [
    { kernelName: MAXPOOL2X2, backendName, kernelFunc: maxPool2x2 as unknown as KernelFunc },
    { kernelName: MAXPOOL2X2_GRAD, backendName, kernelFunc: maxPool2x2Grad as unknown as KernelFunc },
    { kernelName: UPSAMPLE2X, backendName, kernelFunc: upsample2x as unknown as KernelFunc },
    { kernelName: UPSAMPLE2X_GRAD, backendName, kernelFunc: upsample2xGrad as unknown as KernelFunc },
  ];
}
