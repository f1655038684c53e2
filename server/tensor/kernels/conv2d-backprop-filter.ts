/**
 * Conv2DBackpropFilter for the wasm backend (tfjs-backend-wasm 4.22 has none; the engine would fail).
 *
 * Fast path (NHWC, stride 1): the filter gradient is itself a correlation, computed by XNNPACK's Conv2D:
 *   dW[kh,kw,i,o] = sum_{b,y,x} xpad[b, y+kh, x+kw, i] * dy[b, y, x, o]
 * With X' = transpose(x, [3,1,2,0]) (Cin as batch, B as channels) and F' = transpose(dy, [1,2,0,3])
 * (dy as a Ho x Wo filter), conv2d(X', F', explicit pad) has shape [Cin, kh, kw, Cout]; one more transpose
 * gives [kh, kw, Cin, Cout]. Any other stride falls back to a plain JS loop (correct, slow).
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocF32, disposeInfo, viewF32, type HeapBackend } from './heap.js';

export interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

function callKernel(name: string, backend: HeapBackend, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel ${name} missing`);
  return k.kernelFunc({ inputs, backend: backend as never, attrs: attrs as never }) as TensorInfo;
}

export function conv2dBackpropFilterNaive(backend: HeapBackend, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { filterHeight: KH, filterWidth: KW, inChannels: CI, outChannels: CO } = info;
  const out = allocF32(backend, [KH, KW, CI, CO]);
  const dw = viewF32(backend, out);
  const xv = viewF32(backend, x);
  const dyv = viewF32(backend, dy);
  dw.fill(0);
  const [B, H, W] = x.shape;
  const { outHeight: HO, outWidth: WO, strideHeight: SH, strideWidth: SW } = info;
  const top = info.padInfo.top,
    left = info.padInfo.left;
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++)
      for (let b = 0; b < B; b++)
        for (let yo = 0; yo < HO; yo++) {
          const yi = yo * SH + kh - top;
          if (yi < 0 || yi >= H) continue;
          for (let xo = 0; xo < WO; xo++) {
            const xi = xo * SW + kw - left;
            if (xi < 0 || xi >= W) continue;
            const xb = ((b * H + yi) * W + xi) * CI;
            const db = ((b * HO + yo) * WO + xo) * CO;
            for (let i = 0; i < CI; i++) {
              const xval = xv[xb + i];
              if (xval === 0) continue;
              const wb = ((kh * KW + kw) * CI + i) * CO;
              for (let o = 0; o < CO; o++) dw[wb + o] += xval * dyv[db + o];
            }
          }
        }
  return out;
}

function conv2dBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: HeapBackend; attrs: BackpropFilterAttrs }): TensorInfo {
  const {
    inputs: { x, dy },
    backend,
    attrs,
  } = args;
  const fmt = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    fmt,
  );
  if (fmt !== 'channelsLast') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return conv2dBackpropFilterNaive(backend, x, dy, info);
  const p = info.padInfo;
  const xt = callKernel('Transpose', backend, { x }, { perm: [3, 1, 2, 0] });
  const dyt = callKernel('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] });
  const r = callKernel(
    'Conv2D',
    backend,
    { x: xt, filter: dyt },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [p.top, p.bottom],
        [p.left, p.right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
      dimRoundingMode: undefined,
    },
  );
  disposeInfo(backend, xt);
  disposeInfo(backend, dyt);
  const out = callKernel('Transpose', backend, { x: r }, { perm: [1, 2, 0, 3] });
  disposeInfo(backend, r);
  return out;
}

export const conv2dBackpropFilterWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as unknown as KernelFunc,
};
