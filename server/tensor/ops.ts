/**
 * Differentiable building blocks for the U-Net, with correct gradients on every backend:
 *  - on 'cpu'/'wasm' they run sparsecell's own kernels (see kernels/): exact 2x2 max-pool and 2x nearest
 *    up-sampling gradients, and a convolution whose backward applies the ReLU mask and bias sum in one pass
 *    and runs both convolution gradients through XNNPACK (wasm);
 *  - on libtensorflow ('tensorflow', tfjs-node[-gpu]) the convolution keeps the fused backward, its ReLU and
 *    bias gradients running as TensorFlow's ReluGrad + BiasAddGrad (kernels/tensorflow.ts); the rest are the
 *    stock tfjs ops, which map to TensorFlow ops one to one.
 * All ops take and return NHWC float32 tensors; callers own the results (use tf.tidy).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BIAS_ACT_GRAD, BIAS_ACT_GRAD_BACKENDS, CUSTOM_KERNEL_BACKENDS, MAXPOOL2X2, UPCONCAT, UPSAMPLE2X, registerCustomKernels } from './kernels/index.js';

export { registerCustomKernels } from './kernels/index.js';

/** True when the sparsecell JS kernels serve the active backend (cpu, wasm). */
export function customKernelsActive(): boolean {
  return custom();
}

function custom(): boolean {
  registerCustomKernels();
  return (CUSTOM_KERNEL_BACKENDS as readonly string[]).includes(tf.getBackend());
}

/** True when the active backend has BIAS_ACT_GRAD, so conv2dBiasAct can use the fused backward. */
function fusedConvBackward(): boolean {
  registerCustomKernels();
  return BIAS_ACT_GRAD_BACKENDS.includes(tf.getBackend());
}

/** 2x2 max-pool, stride 2 (H, W even). Gradient goes to the first maximum of each window. */
export function maxPool2x2(x: tf.Tensor4D): tf.Tensor4D {
  if (custom()) return tf.engine().runKernel(MAXPOOL2X2, { x }) as tf.Tensor4D;
  return tf.maxPool(x, 2, 2, 'valid');
}

/** 2x nearest-neighbour up-sampling. Gradient = sum over each 2x2 block. */
export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  if (custom()) return tf.engine().runKernel(UPSAMPLE2X, { x }) as tf.Tensor4D;
  const [, h, w] = x.shape;
  return tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w]);
}

/** concat([skip, upsample2x(low)], channel axis) in one pass (the U-Net decoder join). */
export function upConcat(skip: tf.Tensor4D, low: tf.Tensor4D): tf.Tensor4D {
  if (custom()) return tf.engine().runKernel(UPCONCAT, { skip, low }) as tf.Tensor4D;
  return tf.concat([skip, upsample2x(low)], 3);
}

type ConvFn = (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) => tf.Tensor4D;
const convFns = new Map<string, ConvFn>();

function makeConv(relu: boolean, pad: 'same' | 'valid'): ConvFn {
  return tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const y = tf.engine().runKernel('FusedConv2D', { x, filter: w, bias: b }, {
      strides: [1, 1],
      pad,
      dataFormat: 'NHWC',
      dilations: [1, 1],
      dimRoundingMode: undefined,
      activation: relu ? 'relu' : 'linear',
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    save([x, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [sx, sw, sy] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        const [dz, db] = tf.engine().runKernel(BIAS_ACT_GRAD, { dy, y: sy }, { relu } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy: dz, filter: sw }, {
          strides: [1, 1],
          pad,
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
          inputShape: sx.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: sx, dy: dz }, {
          strides: [1, 1],
          pad,
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
          filterShape: sw.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
        dz.dispose();
        return [dx, dw, db];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as ConvFn;
}

/**
 * Stride-1 convolution + bias (+ ReLU when `relu`), 'same' padding by default. w: [KH, KW, Cin, Cout].
 */
export function conv2dBiasAct(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, relu: boolean, pad: 'same' | 'valid' = 'same'): tf.Tensor4D {
  if (!fusedConvBackward()) return tf.fused.conv2d({ x, filter: w, bias: b, strides: 1, pad, activation: relu ? 'relu' : 'linear' });
  const key = `${relu}-${pad}`;
  let fn = convFns.get(key);
  if (!fn) {
    fn = makeConv(relu, pad);
    convFns.set(key, fn);
  }
  return fn(x, w, b);
}
