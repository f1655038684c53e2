/**
 * Kernels for the libtensorflow ('tensorflow') backend of tfjs-node / tfjs-node-gpu. They run TensorFlow's own
 * fused gradient ops through the backend's eager executor instead of tfjs-node's composites: tfjs-node's
 * `Step` (used by the stock ReLU gradient) is built from IsNan + Greater + Fill + Select and took half of a
 * U-Net training step; `ReluGrad` + `BiasAddGrad` do the same work in two passes.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { BIAS_ACT_GRAD } from './bias-act-grad.js';

export const TENSORFLOW_BACKEND = 'tensorflow';

/** The slice of tfjs-node's NodeJSKernelBackend these kernels use (no import: the package is optional). */
interface TfOpAttr {
  name: string;
  type: number;
  value: unknown;
}
interface NodeBackendLike {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_STRING: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: TfOpAttr[], inputs: TensorInfo[]): TensorInfo;
}

/** Same contract as the cpu/wasm BIAS_ACT_GRAD: [dz = relu ? dy * (y > 0) : dy, dBias = sum over b, y, x of dz]. */
function biasActGrad({
  inputs: { dy, y },
  backend,
  attrs,
}: {
  inputs: { dy: TensorInfo; y: TensorInfo };
  backend: NodeBackendLike;
  attrs: { relu: boolean };
}): TensorInfo[] {
  const T: TfOpAttr = { name: 'T', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT };
  const dz = attrs.relu ? backend.executeSingleOutput('ReluGrad', [T], [dy, y]) : backend.executeSingleOutput('Identity', [T], [dy]);
  const db = backend.executeSingleOutput('BiasAddGrad', [T, { name: 'data_format', type: backend.binding.TF_ATTR_STRING, value: 'NHWC' }], [dz]);
  return [dz, db];
}

export const tensorflowKernelConfigs: KernelConfig[] = [
  { kernelName: BIAS_ACT_GRAD, backendName: TENSORFLOW_BACKEND, kernelFunc: biasActGrad as unknown as KernelFunc },
];
