/**
 * ONNX models as plain data, written and read with the protobuf wire code in protobuf.ts (pure). Only what a
 * sparsecell U-Net needs: float32 and int64 initializers (raw_data), int/ints/float/string attributes, one graph
 * input and output with symbolic dimensions. Field numbers follow onnx/onnx.proto (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto).
 */
import { PbMessage, PbWriter } from './protobuf.js';

export type OnnxAttr =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'ints'; value: number[] }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'string'; value: string };

export interface OnnxNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: OnnxAttr[];
}

export type OnnxTensor =
  | { name: string; dims: number[]; type: 'float32'; data: Float32Array }
  | { name: string; dims: number[]; type: 'int64'; data: number[] };

export interface OnnxValueInfo {
  name: string;
  /** Fixed sizes or symbolic names. */
  dims: Array<number | string>;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  /** Version of the default ("ai.onnx") operator set. */
  opset: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  metadata: Record<string, string>;
  graph: OnnxGraph;
}

const ATTR = { float: 1, int: 2, string: 3, ints: 7 } as const;
const DTYPE = { float32: 1, int64: 7 } as const;

function attrWriter(a: OnnxAttr): PbWriter {
  const w = new PbWriter().string(1, a.name).int(20, ATTR[a.kind]);
  if (a.kind === 'int') w.int(3, a.value);
  else if (a.kind === 'float') w.float(2, a.value);
  else if (a.kind === 'string') w.string(4, a.value);
  else for (const v of a.value) w.int(8, v);
  return w;
}

function tensorWriter(t: OnnxTensor): PbWriter {
  const w = new PbWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, DTYPE[t.type]).string(8, t.name);
  let raw: Uint8Array;
  if (t.type === 'float32') {
    raw = new Uint8Array(4 * t.data.length);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < t.data.length; i++) dv.setFloat32(4 * i, t.data[i], true);
  } else {
    raw = new Uint8Array(8 * t.data.length);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < t.data.length; i++) dv.setBigInt64(8 * i, BigInt(t.data[i]), true);
  }
  return w.bytes(9, raw);
}

function valueInfoWriter(v: OnnxValueInfo): PbWriter {
  const shape = new PbWriter();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new PbWriter().int(1, d) : new PbWriter().string(2, d));
  const tensorType = new PbWriter().int(1, DTYPE.float32).message(2, shape);
  return new PbWriter().string(1, v.name).message(2, new PbWriter().message(1, tensorType));
}

export function encodeOnnx(m: OnnxModel): Uint8Array {
  const g = new PbWriter();
  for (const n of m.graph.nodes) {
    const nw = new PbWriter();
    for (const i of n.inputs) nw.string(1, i);
    for (const o of n.outputs) nw.string(2, o);
    nw.string(3, n.name).string(4, n.op);
    for (const a of n.attrs) nw.message(5, attrWriter(a));
    g.message(1, nw);
  }
  g.string(2, m.graph.name);
  for (const t of m.graph.initializers) g.message(5, tensorWriter(t));
  for (const v of m.graph.inputs) g.message(11, valueInfoWriter(v));
  for (const v of m.graph.outputs) g.message(12, valueInfoWriter(v));
  const w = new PbWriter().int(1, m.irVersion).string(2, m.producerName).string(3, m.producerVersion).string(6, m.docString).message(7, g);
  w.message(8, new PbWriter().string(1, '').int(2, m.opset));
  for (const [k, v] of Object.entries(m.metadata)) w.message(14, new PbWriter().string(1, k).string(2, v));
  return w.finish();
}

function readAttr(a: PbMessage): OnnxAttr {
  const name = a.string(1);
  const type = a.int(20);
  if (type === ATTR.int) return { name, kind: 'int', value: a.int(3) };
  if (type === ATTR.ints) return { name, kind: 'ints', value: a.ints(8) };
  if (type === ATTR.float) return { name, kind: 'float', value: a.float(2) ?? 0 };
  if (type === ATTR.string) return { name, kind: 'string', value: a.string(4) };
  throw new Error(`attribute '${name}' has type ${type}, which sparsecell does not read`);
}

function readTensor(t: PbMessage): OnnxTensor {
  const name = t.string(8);
  const dims = t.ints(1);
  const n = dims.reduce((a, b) => a * b, 1);
  const type = t.int(2);
  if (t.has(13)) throw new Error(`initializer '${name}' keeps its data in an external file, which sparsecell does not read`);
  const raw = t.bytes(9)[0];
  if (type === DTYPE.float32) {
    let data: Float32Array;
    if (raw) {
      if (raw.length !== 4 * n) throw new Error(`initializer '${name}' has ${raw.length} bytes for shape [${dims}]`);
      data = new Float32Array(n);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < n; i++) data[i] = dv.getFloat32(4 * i, true);
    } else {
      data = Float32Array.from(t.floats(4));
      if (data.length !== n) throw new Error(`initializer '${name}' has ${data.length} values for shape [${dims}]`);
    }
    return { name, dims, type: 'float32', data };
  }
  if (type === DTYPE.int64) {
    let data: number[];
    if (raw) {
      if (raw.length !== 8 * n) throw new Error(`initializer '${name}' has ${raw.length} bytes for shape [${dims}]`);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      data = Array.from({ length: n }, (_, i) => Number(dv.getBigInt64(8 * i, true)));
    } else data = t.ints(7);
    if (data.length !== n) throw new Error(`initializer '${name}' has ${data.length} values for shape [${dims}]`);
    return { name, dims, type: 'int64', data };
  }
  throw new Error(`initializer '${name}' has data type ${type}; sparsecell reads float32 and int64 only`);
}

function readValueInfo(v: PbMessage): OnnxValueInfo {
  const name = v.string(1);
  const type = v.messages(2, 'TypeProto')[0];
  const tensor = type?.messages(1, 'TypeProto.Tensor')[0];
  const shape = tensor?.messages(2, 'TensorShapeProto')[0];
  const dims = (shape?.messages(1, 'Dimension') ?? []).map((d) => (d.has(1) ? d.int(1) : d.string(2, '?')));
  return { name, dims };
}

/** Parse an ONNX model. Throws an Error saying what could not be read. */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  const m = PbMessage.decode(bytes, 'ModelProto');
  const g = m.messages(7, 'GraphProto')[0];
  if (!g) throw new Error('the ONNX file has no graph');
  const opsets = m.messages(8, 'OperatorSetIdProto').map((o) => ({ domain: o.string(1), version: o.int(2) }));
  const others = opsets.filter((o) => o.domain !== '' && o.domain !== 'ai.onnx');
  if (others.length)
    throw new Error(`the ONNX graph uses operator domain(s) ${others.map((o) => `'${o.domain}'`).join(', ')}, which sparsecell does not support`);
  const metadata: Record<string, string> = {};
  for (const p of m.messages(14, 'StringStringEntryProto')) metadata[p.string(1)] = p.string(2);
  return {
    irVersion: m.int(1),
    opset: opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0,
    producerName: m.string(2),
    producerVersion: m.string(3),
    docString: m.string(6),
    metadata,
    graph: {
      name: g.string(2),
      nodes: g.messages(1, 'NodeProto').map((n) => {
        if (n.string(7) !== '') throw new Error(`node '${n.string(3)}' uses operator domain '${n.string(7)}', which sparsecell does not support`);
        return { op: n.string(4), name: n.string(3), inputs: n.strings(1), outputs: n.strings(2), attrs: n.messages(5, 'AttributeProto').map(readAttr) };
      }),
      initializers: g.messages(5, 'TensorProto').map(readTensor),
      inputs: g.messages(11, 'ValueInfoProto').map(readValueInfo),
      outputs: g.messages(12, 'ValueInfoProto').map(readValueInfo),
    },
  };
}
