/**
 * Backward of `act(conv + bias)` up to the conv: one pass over dy that applies the ReLU mask (when
 * attrs.relu) and sums the result over batch and space for the bias gradient.
 *   inputs {dy, y} (y = the forward OUTPUT, after the activation), attrs {relu: boolean}
 *   outputs [dz = relu ? dy * (y > 0) : dy, dBias[c] = sum_{b,y,x} dz]
 * Avoids the wasm Sum over axes [0,1,2], which transposes the whole tensor first.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocF32, viewF32, type HeapBackend } from './heap.js';

export const BIAS_ACT_GRAD = 'SparsecellBiasActGrad';

function biasActGrad({
  inputs: { dy, y },
  backend,
  attrs,
}: {
  inputs: { dy: TensorInfo; y: TensorInfo };
  backend: HeapBackend;
  attrs: { relu: boolean };
}): TensorInfo[] {
  const C = dy.shape[dy.shape.length - 1];
  const dzInfo = allocF32(backend, dy.shape.slice());
  const dbInfo = allocF32(backend, [C]);
  const dz = viewF32(backend, dzInfo);
  const db = viewF32(backend, dbInfo);
  const g = viewF32(backend, dy);
  const acc = new Float64Array(C);
  const n = g.length;
  if (attrs.relu) {
    const yv = viewF32(backend, y);
    for (let i = 0; i < n; i += C)
      for (let c = 0; c < C; c++) {
        const v = yv[i + c] > 0 ? g[i + c] : 0;
        dz[i + c] = v;
        acc[c] += v;
      }
  } else {
    dz.set(g);
    for (let i = 0; i < n; i += C) for (let c = 0; c < C; c++) acc[c] += g[i + c];
  }
  for (let c = 0; c < C; c++) db[c] = acc[c];
  return [dzInfo, dbInfo];
}

export function biasActGradConfig(backendName: string): KernelConfig {
  return { kernelName: BIAS_ACT_GRAD, backendName, kernelFunc: biasActGrad as unknown as KernelFunc };
}
