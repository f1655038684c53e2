/**
 * Gradient definitions for the stock tfjs kernels that losses and activations use.
 *
 * Why: in Node, `@tensorflow/tfjs-core` resolves to its CommonJS bundle, which registers NO gradients (the
 * union package `@tensorflow/tfjs` normally does, and its ESM `register_all_gradients.js` cannot be imported in
 * Node because of extensionless specifiers). `registerGradients()` fills the global gradient registry for the
 * ops listed in GRADIENT_KERNELS; anything already registered (e.g. by tfjs-node-gpu) is left alone.
 * Each gradient is checked against finite differences in test/tensor/gradients.test.ts.
 *
 * Not covered on purpose: FusedConv2D, MaxPool, ResizeNearestNeighbor (use server/tensor/ops.ts instead).
 */
import * as tf from '@tensorflow/tfjs-core';

type T = tf.Tensor;
type Attrs = Record<string, unknown>;

/** Sum `g` down to `shape` (undo broadcasting). */
function unbroadcast(g: T, shape: number[]): T {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const axes = tf.broadcast_util.getReductionAxes(shape, g.shape);
  const s = axes.length ? tf.sum(g, axes) : g;
  return tf.reshape(s, shape);
}

function reduceAxes(axis: unknown, shape: number[]): number[] {
  return tf.util.parseAxisParam((axis ?? null) as number | number[], shape);
}

/** dy of a reduction (keepDims or not) -> broadcastable to x. */
function expandReduced(dy: T, xShape: number[], axes: number[]): T {
  const kept = xShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return tf.reshape(dy, kept);
}

function binary(kernelName: string, fa: (dy: T, a: T, b: T) => T, fb: (dy: T, a: T, b: T) => T): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      return {
        a: () => unbroadcast(fa(dy as T, a, b), a.shape),
        b: () => unbroadcast(fb(dy as T, a, b), b.shape),
      };
    },
  };
}

function unary(kernelName: string, f: (dy: T, x: T, attrs: Attrs) => T): tf.GradConfig {
  return { kernelName, inputsToSave: ['x'], gradFunc: (dy, saved, attrs) => ({ x: () => f(dy as T, saved[0], attrs as Attrs) }) };
}

function unaryOut(kernelName: string, f: (dy: T, y: T) => T): tf.GradConfig {
  return { kernelName, outputsToSave: [true], gradFunc: (dy, saved) => ({ x: () => f(dy as T, saved[0]) }) };
}

const f32 = (t: T) => tf.cast(t, 'float32');

const CONFIGS: tf.GradConfig[] = [
  binary(
    'Add',
    (dy) => dy,
    (dy) => dy,
  ),
  binary(
    'Sub',
    (dy) => dy,
    (dy) => tf.neg(dy),
  ),
  binary(
    'Multiply',
    (dy, _a, b) => tf.mul(dy, b),
    (dy, a) => tf.mul(dy, a),
  ),
  binary(
    'RealDiv',
    (dy, _a, b) => tf.div(dy, b),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b))),
  ),
  binary(
    'Maximum',
    (dy, a, b) => tf.mul(dy, f32(tf.greaterEqual(a, b))),
    (dy, a, b) => tf.mul(dy, f32(tf.less(a, b))),
  ),
  binary(
    'Minimum',
    (dy, a, b) => tf.mul(dy, f32(tf.lessEqual(a, b))),
    (dy, a, b) => tf.mul(dy, f32(tf.greater(a, b))),
  ),
  binary(
    'SquaredDifference',
    (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))),
    (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a))),
  ),
  {
    kernelName: 'AddN',
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [String(i), () => tf.clone(dy as T)])),
  },
  unary('Neg', (dy) => tf.neg(dy)),
  unary('Identity', (dy) => tf.clone(dy)),
  unary('Cast', (dy) => tf.clone(dy)),
  unary('Reshape', (dy, x) => tf.reshape(dy, x.shape)),
  { kernelName: 'ExpandDims', inputsToSave: ['input'], gradFunc: (dy, saved) => ({ input: () => tf.reshape(dy as T, saved[0].shape) }) },
  unary('Log', (dy, x) => tf.div(dy, x)),
  unary('Log1p', (dy, x) => tf.div(dy, tf.add(x, 1))),
  unary('Abs', (dy, x) => tf.mul(dy, tf.sign(x))),
  unary('Relu', (dy, x) => tf.mul(dy, f32(tf.greater(x, 0)))),
  unary('Square', (dy, x) => tf.mul(dy, tf.mul(x, 2))),
  unary('Softplus', (dy, x) => tf.mul(dy, tf.sigmoid(x))),
  unary('ClipByValue', (dy, x, a) => tf.mul(dy, f32(tf.logicalAnd(tf.greaterEqual(x, a.clipValueMin as number), tf.lessEqual(x, a.clipValueMax as number))))),
  unaryOut('Sigmoid', (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
  unaryOut('Exp', (dy, y) => tf.mul(dy, y)),
  unaryOut('Sqrt', (dy, y) => tf.div(dy, tf.mul(y, 2))),
  unaryOut('Tanh', (dy, y) => tf.mul(dy, tf.sub(1, tf.square(y)))),
  unary('Sum', (dy, x, a) => tf.mul(expandReduced(dy, x.shape, reduceAxes(a.axis, x.shape)), tf.onesLike(x))),
  unary('Mean', (dy, x, a) => {
    const axes = reduceAxes(a.axis, x.shape);
    const n = axes.reduce((p, i) => p * x.shape[i], 1);
    return tf.mul(expandReduced(tf.div(dy, n), x.shape, axes), tf.onesLike(x));
  }),
  {
    kernelName: 'Max',
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved;
      const axes = reduceAxes((attrs as Attrs).reductionIndices, x.shape);
      const mask = f32(tf.equal(x, expandReduced(y, x.shape, axes)));
      return { x: () => tf.mul(mask, expandReduced(dy as T, x.shape, axes)) };
    },
  },
  {
    kernelName: 'Softmax',
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const y = saved[0];
      const dim = (attrs as Attrs).dim as number;
      return { logits: () => tf.mul(y, tf.sub(dy as T, tf.sum(tf.mul(dy as T, y), dim, true))) };
    },
  },
  {
    kernelName: 'LogSoftmax',
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const y = saved[0];
      const axis = (attrs as Attrs).axis as number;
      return { logits: () => tf.sub(dy as T, tf.mul(tf.sum(dy as T, axis, true), tf.exp(y))) };
    },
  },
  {
    kernelName: 'Select',
    inputsToSave: ['condition'],
    gradFunc: (dy, saved) => {
      const c = saved[0];
      return {
        condition: () => tf.zeros(c.shape),
        t: () => tf.mul(dy as T, f32(c)),
        e: () => tf.mul(dy as T, f32(tf.logicalNot(c))),
      };
    },
  },
  unary('Slice', (dy, x, a) => {
    const begin = a.begin as number[];
    const size = (a.size as number[]).map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
    return tf.pad(
      dy,
      x.shape.map((d, i) => [begin[i], d - begin[i] - size[i]] as [number, number]),
    );
  }),
  unary('PadV2', (dy, x, a) =>
    tf.slice(
      dy,
      (a.paddings as Array<[number, number]>).map((p) => p[0]),
      x.shape,
    ),
  ),
  unary('Transpose', (dy, _x, a) => {
    const perm = a.perm as number[];
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => {
      inv[p] = i;
    });
    return tf.transpose(dy, inv);
  }),
  {
    kernelName: 'Concat',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = tf.util.parseAxisParam((attrs as Attrs).axis as number, saved[0].shape)[0];
      const sizes = saved.map((s) => s.shape[axis]);
      const parts = tf.split(dy as T, sizes, axis);
      return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
    },
  },
  {
    kernelName: 'Pack',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const parts = tf.unstack(dy as T, (attrs as Attrs).axis as number);
      return Object.fromEntries(saved.map((_, i) => [String(i), () => parts[i]]));
    },
  },
  {
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved;
      const a = attrs as Attrs;
      const d = a.dilations as number | [number, number] | undefined;
      if (d !== undefined && d !== 1 && !(Array.isArray(d) && d[0] === 1 && d[1] === 1)) throw new Error('Conv2D gradient: dilations > 1 are not supported');
      const common = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat ?? 'NHWC', dimRoundingMode: a.dimRoundingMode };
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dy as T, filter }, { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap) as T,
        filter: () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dy as T }, { ...common, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as T,
      };
    },
  },
];

/** Kernel names whose gradient registerGradients() provides. */
export const GRADIENT_KERNELS: readonly string[] = CONFIGS.map((c) => c.kernelName);

let done = false;
/** Register the gradients above (idempotent; never overrides an existing registration). */
export function registerGradients(): void {
  if (done) return;
  for (const c of CONFIGS) if (!tf.getGradient(c.kernelName)) tf.registerGradient(c);
  done = true;
}
