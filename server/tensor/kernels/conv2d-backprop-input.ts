/**
 * Conv2DBackpropInput for the wasm backend, replacing the stock one (a scalar C++ loop, ~10x slower).
 *
 * Fast path (NHWC, stride 1): the input gradient is a correlation of dy with the spatially flipped,
 * in/out-swapped filter, run by XNNPACK's Conv2D:
 *   dx[b,y,x,i] = sum_{kh,kw,o} dy[b, y - kh + top, x - kw + left, o] * W[kh,kw,i,o]
 *               = conv2d(dy, W'[kh',kw',o,i] = W[KH-1-kh', KW-1-kw', i, o]) with pads (KH-1-top, ...).
 * Other strides delegate to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { allocF32, disposeInfo, viewF32, type HeapBackend } from './heap.js';

export interface BackpropInputAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** The stock kernel, kept for the cases the fast path does not cover. Set by registerWasmKernels. */
let stockConfig: KernelConfig | undefined;
let stockSetUp = false;
export function setStockConv2dBackpropInput(k: KernelConfig | undefined): void {
  stockConfig = k;
  stockSetUp = false;
}

function stock(args: unknown): TensorInfo {
  if (!stockConfig) throw new Error('Conv2DBackpropInput (wasm): unsupported configuration');
  const a = args as { backend: object };
  // Its setupFunc (cwrap of the C++ entry point) never ran because it was unregistered before init.
  if (!stockSetUp && stockConfig.setupFunc) stockConfig.setupFunc(a.backend as never);
  stockSetUp = true;
  return stockConfig.kernelFunc(args as never) as TensorInfo;
}

/** W [KH,KW,CI,CO] -> W' [KH,KW,CO,CI] flipped in both spatial axes. */
export function flipSwapFilter(backend: HeapBackend, filter: TensorInfo): TensorInfo {
  const [KH, KW, CI, CO] = filter.shape;
  const out = allocF32(backend, [KH, KW, CO, CI]);
  const o = viewF32(backend, out);
  const w = viewF32(backend, filter);
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++) {
      const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * CI * CO;
      const dst = (kh * KW + kw) * CO * CI;
      for (let i = 0; i < CI; i++) for (let c = 0; c < CO; c++) o[dst + c * CI + i] = w[src + i * CO + c];
    }
  return out;
}

function conv2dBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: HeapBackend; attrs: BackpropInputAttrs }): TensorInfo {
  const {
    inputs: { dy, filter },
    backend,
    attrs,
  } = args;
  const fmt = backend_util.convertConv2DDataFormat(attrs.dataFormat);
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    fmt,
  );
  if (fmt !== 'channelsLast' || info.strideHeight !== 1 || info.strideWidth !== 1) {
    return stock(args);
  }
  const { filterHeight: KH, filterWidth: KW, inHeight: H, inWidth: W, outHeight: HO, outWidth: WO } = info;
  const top = KH - 1 - info.padInfo.top;
  const left = KW - 1 - info.padInfo.left;
  const bottom = H - HO + KH - 1 - top;
  const right = W - WO + KW - 1 - left;
  if (bottom < 0 || right < 0 || top < 0 || left < 0) {
    return stock(args);
  }
  const wt = flipSwapFilter(backend, filter);
  const k = tf.getKernel('Conv2D', 'wasm')!;
  const out = k.kernelFunc({
    inputs: { x: dy, filter: wt },
    backend: backend as never,
    attrs: {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    } as never,
  }) as TensorInfo;
  disposeInfo(backend, wt);
  return out;
}

export const conv2dBackpropInputWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropInput as unknown as KernelFunc,
};
