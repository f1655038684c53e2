/**
 * The sparsecell U-Net (unet.ts) as a frozen TensorFlow graph in a SavedModel's `saved_model.pb` (pure).
 *
 * Why: tfjs-node runs the eager forward op by op (Conv2D, then BiasAdd, then Relu, each a pass over memory), while
 * a graph session lets TensorFlow's optimiser (grappler) fuse Conv2D + BiasAdd + Relu into one oneDNN kernel, as
 * Keras' `model.predict` gets. On this machine that is ~1.4x faster per pixel (README, Benchmarks, "Predict 2048²"). The
 * tensorflow backend runs large predictions through this graph (training/graph-predict.ts).
 *
 * The graph: Placeholder "input" [1, H, W, C] float32 -> the U-Net with its weights as Const nodes (frozen; no
 * variables, so the SavedModel needs no checkpoint) -> the family's activation when one is given (as family.activate:
 * StarDist sigmoid(prob) + relu(distances); Cellpose flows / flowScale + sigmoid(cellprob); ELEPHANT softmax) ->
 * Identity "output" [1, H/grid, W/grid, outputChannels]. Without an activation, "output" is the raw network output
 * (unetForward's). Ops: Conv2D, BiasAdd, Relu, MaxPool, Shape/StridedSlice/Mul + ResizeNearestNeighbor (2x
 * up-sampling of any size), ConcatV2, Sigmoid, RealDiv, Softmax, Identity.
 * Field numbers follow tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape,types}.proto and
 * tensorflow/core/protobuf/{saved_model,meta_graph}.proto.
 */
import { PbWriter } from '../../bioimageio/protobuf.js';
import { unetParamShapes, type NamedTensorData } from './unet.js';
import type { UNetConfig } from './config.js';
import type { ActivationSpec } from '../segmentation-model.js';

export const GRAPH_INPUT = 'input';
export const GRAPH_OUTPUT = 'output';
export const SAVED_MODEL_TAG = 'serve';
export const SIGNATURE = 'serving_default';

const DT_FLOAT = 1;
const DT_INT32 = 3;
/** GraphDef versions.producer: a TensorFlow 2.x graph (any TensorFlow since 2.4 reads it). */
const GRAPH_PRODUCER = 561;

type Attr =
  | { type: number }
  | { s: string }
  | { i: number }
  | { b: boolean }
  | { ints: number[] }
  | { shape: number[] }
  | { tensor: { dtype: number; shape: number[]; content: Uint8Array } };

type Constant = (name: string, dtype: number, shape: number[], data: Float32Array | Int32Array) => void;

interface Node {
  name: string;
  op: string;
  inputs: string[];
  attrs: Record<string, Attr>;
}

function shapeProto(dims: number[]): PbWriter {
  const w = new PbWriter();
  for (const d of dims) w.message(2, new PbWriter().int(1, d));
  return w;
}

function attrProto(a: Attr): PbWriter {
  const w = new PbWriter();
  if ('type' in a) w.int(6, a.type);
  else if ('s' in a) w.string(2, a.s);
  else if ('i' in a) w.int(3, a.i);
  else if ('b' in a) w.int(5, a.b ? 1 : 0);
  else if ('ints' in a) {
    const list = new PbWriter();
    for (const v of a.ints) list.int(3, v);
    w.message(1, list);
  } else if ('shape' in a) w.message(7, shapeProto(a.shape));
  else {
    const t = new PbWriter().int(1, a.tensor.dtype).message(2, shapeProto(a.tensor.shape)).bytes(4, a.tensor.content);
    w.message(8, t);
  }
  return w;
}

function nodeProto(n: Node): PbWriter {
  const w = new PbWriter().string(1, n.name).string(2, n.op);
  for (const i of n.inputs) w.string(3, i);
  for (const [k, v] of Object.entries(n.attrs)) w.message(5, new PbWriter().string(1, k).message(2, attrProto(v)));
  return w;
}

const le = (a: Float32Array | Int32Array): Uint8Array => {
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  if (a instanceof Float32Array) for (let i = 0; i < a.length; i++) dv.setFloat32(4 * i, a[i], true);
  else for (let i = 0; i < a.length; i++) dv.setInt32(4 * i, a[i], true);
  return out;
};

/** The graph's nodes for a configuration and its weights (U-Net parameters by name, tfjs HWIO layout = TensorFlow's). */
export function unetGraphNodes(config: UNetConfig, weights: NamedTensorData[], act?: ActivationSpec): Node[] {
  const byName = new Map(weights.map((t) => [t.name, t]));
  const nodes: Node[] = [];
  const T = { type: DT_FLOAT };
  const constant = (name: string, dtype: number, shape: number[], data: Float32Array | Int32Array) =>
    nodes.push({ name, op: 'Const', inputs: [], attrs: { dtype: { type: dtype }, value: { tensor: { dtype, shape, content: le(data) } } } });
  for (const { name, shape } of unetParamShapes(config)) {
    const t = byName.get(name);
    if (!t) throw new Error(`graph: missing weight ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k]))
      throw new Error(`graph: ${name} has shape [${t.shape}], expected [${shape}]`);
    constant(name, DT_FLOAT, shape, t.data);
  }
  nodes.push({ name: GRAPH_INPUT, op: 'Placeholder', inputs: [], attrs: { dtype: T, shape: { shape: [1, -1, -1, config.inputChannels] } } });
  constant('const/two', DT_INT32, [2], Int32Array.of(2, 2));
  constant('const/begin', DT_INT32, [1], Int32Array.of(1));
  constant('const/end', DT_INT32, [1], Int32Array.of(3));
  constant('const/stride', DT_INT32, [1], Int32Array.of(1));
  constant('const/axis', DT_INT32, [], Int32Array.of(3));
  const conv = (x: string, name: string, relu: boolean): string => {
    nodes.push({
      name: `${name}/Conv2D`,
      op: 'Conv2D',
      inputs: [x, `${name}/kernel`],
      attrs: { T, strides: { ints: [1, 1, 1, 1] }, padding: { s: 'SAME' }, data_format: { s: 'NHWC' }, dilations: { ints: [1, 1, 1, 1] } },
    });
    nodes.push({ name: `${name}/BiasAdd`, op: 'BiasAdd', inputs: [`${name}/Conv2D`, `${name}/bias`], attrs: { T, data_format: { s: 'NHWC' } } });
    if (!relu) return `${name}/BiasAdd`;
    nodes.push({ name: `${name}/Relu`, op: 'Relu', inputs: [`${name}/BiasAdd`], attrs: { T } });
    return `${name}/Relu`;
  };
  const pool = (x: string, name: string): string => {
    nodes.push({
      name,
      op: 'MaxPool',
      inputs: [x],
      attrs: { T, ksize: { ints: [1, 2, 2, 1] }, strides: { ints: [1, 2, 2, 1] }, padding: { s: 'VALID' }, data_format: { s: 'NHWC' } },
    });
    return name;
  };
  const block = (x: string, name: string) => conv(conv(x, `${name}/conv1`, true), `${name}/conv2`, true);
  let h = GRAPH_INPUT;
  if (config.grid > 1) h = pool(block(h, 'stem'), 'stem/pool');
  const skips: string[] = [];
  for (let l = 0; l < config.depth; l++) {
    h = block(h, `enc${l}`);
    skips.push(h);
    h = pool(h, `enc${l}/pool`);
  }
  h = block(h, 'bottom');
  for (let l = config.depth - 1; l >= 0; l--) {
    const n = `dec${l}/up`;
    nodes.push({ name: `${n}/shape`, op: 'Shape', inputs: [h], attrs: { T, out_type: { type: DT_INT32 } } });
    nodes.push({
      name: `${n}/hw`,
      op: 'StridedSlice',
      inputs: [`${n}/shape`, 'const/begin', 'const/end', 'const/stride'],
      attrs: { T: { type: DT_INT32 }, Index: { type: DT_INT32 } },
    });
    nodes.push({ name: `${n}/size`, op: 'Mul', inputs: [`${n}/hw`, 'const/two'], attrs: { T: { type: DT_INT32 } } });
    nodes.push({
      name: `${n}/resize`,
      op: 'ResizeNearestNeighbor',
      inputs: [h, `${n}/size`],
      attrs: { T, align_corners: { b: false }, half_pixel_centers: { b: false } },
    });
    nodes.push({ name: `${n}/concat`, op: 'ConcatV2', inputs: [skips[l], `${n}/resize`, 'const/axis'], attrs: { T, N: { i: 2 }, Tidx: { type: DT_INT32 } } });
    h = block(`${n}/concat`, `dec${l}`);
  }
  h = conv(h, 'out', false);
  if (act) h = activation(nodes, h, act, config.outputChannels, constant);
  nodes.push({ name: GRAPH_OUTPUT, op: 'Identity', inputs: [h], attrs: { T } });
  return nodes;
}

/** Channels [from, to) of a [1, H, W, C] tensor (StridedSlice on the last axis; the others whole through the masks). */
function channels(nodes: Node[], x: string, name: string, from: number, to: number, constant: Constant): string {
  constant(`${name}/begin`, DT_INT32, [4], Int32Array.of(0, 0, 0, from));
  constant(`${name}/end`, DT_INT32, [4], Int32Array.of(0, 0, 0, to));
  constant(`${name}/strides`, DT_INT32, [4], Int32Array.of(1, 1, 1, 1));
  nodes.push({
    name,
    op: 'StridedSlice',
    inputs: [x, `${name}/begin`, `${name}/end`, `${name}/strides`],
    attrs: { T: { type: DT_FLOAT }, Index: { type: DT_INT32 }, begin_mask: { i: 0b0111 }, end_mask: { i: 0b0111 } },
  });
  return name;
}

function activation(nodes: Node[], logits: string, act: ActivationSpec, outputChannels: number, constant: Constant): string {
  const T = { type: DT_FLOAT };
  const unary = (op: string, name: string, x: string) => (nodes.push({ name, op, inputs: [x], attrs: { T } }), name);
  const concat = (parts: string[]) => {
    constant('act/axis', DT_INT32, [], Int32Array.of(3));
    nodes.push({ name: 'act/concat', op: 'ConcatV2', inputs: [...parts, 'act/axis'], attrs: { T, N: { i: parts.length }, Tidx: { type: DT_INT32 } } });
    return 'act/concat';
  };
  if (act.family === 'stardist') {
    const prob = unary('Sigmoid', 'act/prob', channels(nodes, logits, 'act/prob_logit', 0, 1, constant));
    const dist = unary('Relu', 'act/dist', channels(nodes, logits, 'act/dist_raw', 1, outputChannels, constant));
    return concat([prob, dist]);
  }
  if (act.family === 'cellpose') {
    constant('act/flow_scale', DT_FLOAT, [], Float32Array.of(act.flowScale ?? 1));
    nodes.push({ name: 'act/flows', op: 'RealDiv', inputs: [channels(nodes, logits, 'act/flows_raw', 0, 2, constant), 'act/flow_scale'], attrs: { T } });
    const prob = unary('Sigmoid', 'act/cellprob', channels(nodes, logits, 'act/cellprob_logit', 2, 3, constant));
    return concat(['act/flows', prob]);
  }
  return unary('Softmax', 'act/softmax', logits);
}

/** `saved_model.pb` bytes: one MetaGraph tagged "serve" with signature "serving_default" (input -> output). */
export function unetSavedModel(config: UNetConfig, weights: NamedTensorData[], act?: ActivationSpec): Uint8Array {
  const graph = new PbWriter();
  for (const n of unetGraphNodes(config, weights, act)) graph.message(1, nodeProto(n));
  graph.message(4, new PbWriter().int(1, GRAPH_PRODUCER));
  const tensorInfo = (name: string, dims: number[]) => new PbWriter().string(1, `${name}:0`).int(2, DT_FLOAT).message(3, shapeProto(dims));
  const signature = new PbWriter()
    .message(1, new PbWriter().string(1, GRAPH_INPUT).message(2, tensorInfo(GRAPH_INPUT, [1, -1, -1, config.inputChannels])))
    .message(2, new PbWriter().string(1, GRAPH_OUTPUT).message(2, tensorInfo(GRAPH_OUTPUT, [1, -1, -1, config.outputChannels])))
    .string(3, 'tensorflow/serving/predict');
  const meta = new PbWriter()
    .message(1, new PbWriter().string(4, SAVED_MODEL_TAG))
    .message(2, graph)
    .message(5, new PbWriter().string(1, SIGNATURE).message(2, signature));
  return new PbWriter().int(1, 1).message(2, meta).finish();
}
