/**
 * The sparsecell U-Net (models/unet) and its family's output activation as an ONNX graph, and back (pure).
 *
 * Layout: NCHW (ONNX's convention) for tensors "input" [batch, C, height, width] -> "output"
 * [batch, outputChannels, height, width]; conv kernels OIHW (tfjs keeps HWIO). Every node and initializer has a
 * fixed name derived from the U-Net parameter names, so an imported graph can be checked node by node against
 * the graph this module would write for the declared configuration: anything else is refused with the first
 * difference named.
 *
 * Operators (opset 17): Conv, Relu, MaxPool, Resize (nearest, asymmetric, floor = 2x pixel repetition),
 * Concat, and per family: StarDist Slice + Sigmoid/Relu + Concat, Cellpose Slice + Div/Sigmoid + Concat,
 * ELEPHANT Softmax over channels.
 */
import { unetParamShapes, type NamedTensorData } from '../models/unet/unet.js';
import type { UNetConfig } from '../models/unet/config.js';
import { decodeOnnx, encodeOnnx, type OnnxAttr, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx.js';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'output';
export const ONNX_PRODUCER = 'sparsecell';

import type { ActivationSpec } from '../models/segmentation-model.js';
export type { ActivationSpec };

/** ONNX conv weight [O, I, KH, KW] from a tfjs kernel [KH, KW, I, O]. */
function hwioToOihw(k: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = k[((y * kw + x) * ci + i) * co + o];
  return out;
}

function oihwToHwio(w: Float32Array, [co, ci, kh, kw]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[((y * kw + x) * ci + i) * co + o] = w[((o * ci + i) * kh + y) * kw + x];
  return out;
}

const ints = (name: string, value: number[]): OnnxAttr => ({ name, kind: 'ints', value });

/**
 * The graph for a configuration. With `weights` (U-Net parameters by name, tfjs layout) the learned initializers
 * carry them; without, they are zero-filled (the shape of the graph only, used to check an import).
 */
export function unetOnnxGraph(unet: UNetConfig, act: ActivationSpec, weights?: NamedTensorData[]): OnnxGraph {
  const byName = new Map((weights ?? []).map((t) => [t.name, t]));
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  const node = (op: string, name: string, inputs: string[], attrs: OnnxAttr[] = []): string => {
    nodes.push({ op, name, inputs, outputs: [name], attrs });
    return name;
  };
  const shapes = new Map(unetParamShapes(unet).map((p) => [p.name, p.shape]));
  const param = (name: string, transpose: boolean): string => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`onnx: no U-Net parameter ${name}`);
    const t = byName.get(name);
    if (weights && !t) throw new Error(`onnx: weights lack ${name}`);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = t ? (transpose ? hwioToOihw(t.data, shape) : Float32Array.from(t.data)) : new Float32Array(n);
    const dims = transpose ? [shape[3], shape[2], shape[0], shape[1]] : shape;
    const onnxName = name.replace(/\/kernel$/, '/W').replace(/\/bias$/, '/B');
    inits.push({ name: onnxName, dims, type: 'float32', data });
    return onnxName;
  };
  const conv = (name: string, x: string, relu: boolean): string => {
    const k = shapes.get(`${name}/kernel`)?.[0] ?? 3;
    const p = (k - 1) / 2;
    const y = node(
      'Conv',
      name,
      [x, param(`${name}/kernel`, true), param(`${name}/bias`, false)],
      [ints('dilations', [1, 1]), ints('kernel_shape', [k, k]), ints('pads', [p, p, p, p]), ints('strides', [1, 1])],
    );
    return relu ? node('Relu', `${name}/relu`, [y]) : y;
  };
  const i64 = (name: string, data: number[]): string => {
    inits.push({ name, dims: [data.length], type: 'int64', data });
    return name;
  };
  inits.push({ name: 'up/scales', dims: [4], type: 'float32', data: Float32Array.from([1, 1, 2, 2]) });

  let h = ONNX_INPUT;
  // grid > 1 (StarDist's grid): the full-resolution stem and one 2x2 max-pool before the U-Net (unet/unet.ts).
  if (unet.grid > 1)
    h = node('MaxPool', 'stem/pool', [conv('stem/conv2', conv('stem/conv1', h, true), true)], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]);
  const skips: string[] = [];
  for (let l = 0; l < unet.depth; l++) {
    h = conv(`enc${l}/conv2`, conv(`enc${l}/conv1`, h, true), true);
    skips.push(h);
    h = node('MaxPool', `enc${l}/pool`, [h], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]);
  }
  h = conv('bottom/conv2', conv('bottom/conv1', h, true), true);
  for (let l = unet.depth - 1; l >= 0; l--) {
    const up = node(
      'Resize',
      `dec${l}/up`,
      [h, '', 'up/scales'],
      [
        { name: 'coordinate_transformation_mode', kind: 'string', value: 'asymmetric' },
        { name: 'mode', kind: 'string', value: 'nearest' },
        { name: 'nearest_mode', kind: 'string', value: 'floor' },
      ],
    );
    h = node('Concat', `dec${l}/concat`, [skips[l], up], [{ name: 'axis', kind: 'int', value: 1 }]);
    h = conv(`dec${l}/conv2`, conv(`dec${l}/conv1`, h, true), true);
  }
  const logits = conv('out', h, false);

  const slice = (name: string, from: number, to: number) =>
    node('Slice', name, [logits, i64(`${name}/starts`, [from]), i64(`${name}/ends`, [to]), i64(`${name}/axes`, [1])]);
  const concat = (parts: string[]) => {
    nodes.push({ op: 'Concat', name: ONNX_OUTPUT, inputs: parts, outputs: [ONNX_OUTPUT], attrs: [{ name: 'axis', kind: 'int', value: 1 }] });
  };
  if (act.family === 'stardist') {
    const n = act.nRays ?? unet.outputChannels - 1;
    const prob = node('Sigmoid', 'act/prob', [slice('act/prob_logit', 0, 1)]);
    const dist = node('Relu', 'act/dist', [slice('act/dist_raw', 1, 1 + n)]);
    concat([prob, dist]);
  } else if (act.family === 'cellpose') {
    inits.push({ name: 'act/flow_scale', dims: [], type: 'float32', data: Float32Array.from([act.flowScale ?? 1]) });
    const flows = node('Div', 'act/flows', [slice('act/flows_raw', 0, 2), 'act/flow_scale']);
    const prob = node('Sigmoid', 'act/cellprob', [slice('act/cellprob_logit', 2, 3)]);
    concat([flows, prob]);
  } else {
    nodes.push({ op: 'Softmax', name: ONNX_OUTPUT, inputs: [logits], outputs: [ONNX_OUTPUT], attrs: [{ name: 'axis', kind: 'int', value: 1 }] });
  }
  return {
    name: `sparsecell_${act.family}_unet`,
    nodes,
    initializers: inits,
    inputs: [{ name: ONNX_INPUT, dims: ['batch', unet.inputChannels, 'height', 'width'] }],
    outputs: [{ name: ONNX_OUTPUT, dims: ['batch', unet.outputChannels, 'height', 'width'] }],
  };
}

/** weights.onnx for a model: U-Net + activation, float32, opset 17. */
export function unetToOnnx(
  unet: UNetConfig,
  act: ActivationSpec,
  weights: NamedTensorData[],
  docString: string,
  metadata: Record<string, string> = {},
): Uint8Array {
  const model: OnnxModel = {
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    producerName: ONNX_PRODUCER,
    producerVersion: '1',
    docString,
    metadata,
    graph: unetOnnxGraph(unet, act, weights),
  };
  return encodeOnnx(model);
}

const attrText = (a: OnnxAttr) => `${a.name}=${JSON.stringify(a.value)}`;

/**
 * U-Net weights (tfjs layout, by parameter name) from an ONNX file that must be exactly the graph sparsecell
 * writes for `unet` and `act`. Throws an Error naming the first node, input or initializer that differs.
 */
export function onnxToUNetWeights(bytes: Uint8Array, unet: UNetConfig, act: ActivationSpec): NamedTensorData[] {
  const got = decodeOnnx(bytes);
  if (got.opset < 13) throw new Error(`ONNX opset ${got.opset} is not supported (need >= 13)`);
  const want = unetOnnxGraph(unet, act);
  const g = got.graph;
  const io = (v: { name: string; dims: Array<number | string> }[]) =>
    v.map((x) => `${x.name}[${x.dims.map((d) => (typeof d === 'number' ? d : '?')).join(',')}]`).join(', ');
  if (io(g.inputs.filter((v) => !g.initializers.some((t) => t.name === v.name))) !== io(want.inputs))
    throw new Error(`the ONNX graph's inputs are ${io(g.inputs)}, not the sparsecell U-Net's ${io(want.inputs)}`);
  if (io(g.outputs) !== io(want.outputs)) throw new Error(`the ONNX graph's outputs are ${io(g.outputs)}, not the sparsecell U-Net's ${io(want.outputs)}`);
  if (g.nodes.length !== want.nodes.length)
    throw new Error(
      `the ONNX graph has ${g.nodes.length} nodes; a sparsecell ${act.family} U-Net of depth ${unet.depth} has ${want.nodes.length} (unsupported architecture)`,
    );
  for (let i = 0; i < want.nodes.length; i++) {
    const a = g.nodes[i],
      b = want.nodes[i];
    const what = `node ${i} ('${a.name || a.op}')`;
    if (a.op !== b.op) throw new Error(`unsupported architecture: ${what} is ${a.op}, the sparsecell U-Net has ${b.op} there`);
    if (a.inputs.join() !== b.inputs.join() || a.outputs.join() !== b.outputs.join())
      throw new Error(`unsupported architecture: ${what} (${a.op}) connects [${a.inputs}] -> [${a.outputs}], expected [${b.inputs}] -> [${b.outputs}]`);
    const aa = a.attrs.map(attrText).sort().join('; '),
      ba = b.attrs.map(attrText).sort().join('; ');
    if (aa !== ba) throw new Error(`unsupported ${a.op} settings at ${what}: ${aa || 'none'} (sparsecell writes ${ba || 'none'})`);
  }
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  for (const w of want.initializers) {
    const t = inits.get(w.name);
    if (!t) throw new Error(`the ONNX graph lacks initializer '${w.name}'`);
    if (t.type !== w.type || t.dims.join() !== w.dims.join())
      throw new Error(`initializer '${w.name}' is ${t.type} [${t.dims}], expected ${w.type} [${w.dims}]`);
    if (!w.name.endsWith('/W') && !w.name.endsWith('/B') && Array.from(t.data as ArrayLike<number>).some((v, k) => v !== (w.data as ArrayLike<number>)[k]))
      throw new Error(`initializer '${w.name}' holds [${Array.from(t.data as ArrayLike<number>)}], expected [${Array.from(w.data as ArrayLike<number>)}]`);
  }
  return unetParamShapes(unet).map(({ name, shape }) => {
    const t = inits.get(name.replace(/\/kernel$/, '/W').replace(/\/bias$/, '/B')) as Extract<OnnxTensor, { type: 'float32' }>;
    for (let k = 0; k < t.data.length; k++)
      if (!Number.isFinite(t.data[k])) throw new Error(`initializer '${t.name}' holds a non-finite value at element ${k}`);
    return { name, shape, data: shape.length === 4 ? oihwToHwio(t.data, t.dims) : Float32Array.from(t.data) };
  });
}
