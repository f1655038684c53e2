/**
 * Kernel registration. `registerWasmKernels()` replaces/adds the wasm convolution gradients (call after
 * importing @tensorflow/tfjs-backend-wasm); `registerCustomKernels()` adds the sparsecell kernels
 * (pool/upsample/bias-activation gradient) and their gradients for the cpu and wasm backends, plus the stock
 * gradients of ../gradients.ts. Both idempotent.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterWasmConfig } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputWasmConfig, setStockConv2dBackpropInput } from './conv2d-backprop-input.js';
import { MAXPOOL2X2, MAXPOOL2X2_GRAD, UPSAMPLE2X, UPSAMPLE2X_GRAD, poolUpsampleConfigs } from './pool-upsample.js';
import { biasActGradConfig } from './bias-act-grad.js';
import { UPCONCAT, UPCONCAT_GRAD, upConcatConfigs } from './up-concat.js';
import { starDistLossConfig } from './stardist-loss.js';
import { TENSORFLOW_BACKEND, tensorflowKernelConfigs } from './tensorflow.js';
import { registerGradients } from '../gradients.js';

export { MAXPOOL2X2, MAXPOOL2X2_GRAD, UPSAMPLE2X, UPSAMPLE2X_GRAD } from './pool-upsample.js';
export { BIAS_ACT_GRAD } from './bias-act-grad.js';
export { UPCONCAT, UPCONCAT_GRAD } from './up-concat.js';
export { STARDIST_LOSS } from './stardist-loss.js';

function replace(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName) === config) return;
  if (tf.getKernel(config.kernelName, config.backendName)) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

let wasmDone = false;
export function registerWasmKernels(): void {
  if (wasmDone) return;
  const stock = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (stock && stock.kernelFunc !== conv2dBackpropInputWasmConfig.kernelFunc) setStockConv2dBackpropInput(stock);
  replace(conv2dBackpropFilterWasmConfig);
  replace(conv2dBackpropInputWasmConfig);
  wasmDone = true;
}

/** Backends on which the sparsecell JS kernels run (they need zero-copy access to float32 storage). */
export const CUSTOM_KERNEL_BACKENDS = ['cpu', 'wasm'] as const;

/** Backends with a BIAS_ACT_GRAD kernel, so the U-Net convolution can use the fused backward of ops.ts. */
export const BIAS_ACT_GRAD_BACKENDS: readonly string[] = [...CUSTOM_KERNEL_BACKENDS, TENSORFLOW_BACKEND];

let customDone = false;
export function registerCustomKernels(): void {
  if (customDone) return;
  registerGradients();
  for (const c of tensorflowKernelConfigs) replace(c);
  for (const b of CUSTOM_KERNEL_BACKENDS) {
    for (const c of poolUpsampleConfigs(b)) replace(c);
    replace(biasActGradConfig(b));
    for (const c of upConcatConfigs(b)) replace(c);
    replace(starDistLossConfig(b));
  }
  tf.registerGradient({
    kernelName: MAXPOOL2X2,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel(MAXPOOL2X2_GRAD, { dy: dy as tf.Tensor, x: saved[0] }) as tf.Tensor }),
  });
  tf.registerGradient({
    kernelName: UPSAMPLE2X,
    gradFunc: (dy) => ({ x: () => tf.engine().runKernel(UPSAMPLE2X_GRAD, { dy: dy as tf.Tensor }) as tf.Tensor }),
  });
  tf.registerGradient({
    kernelName: UPCONCAT,
    inputsToSave: ['skip'],
    gradFunc: (dy, saved) => {
      const [dSkip, dLow] = tf.engine().runKernel(UPCONCAT_GRAD, { dy: dy as tf.Tensor }, { skipChannels: saved[0].shape[3] as number }) as tf.Tensor[];
      return { skip: () => dSkip, low: () => dLow };
    },
  });
  customDone = true;
}
