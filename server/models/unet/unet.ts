/**
 * The shared U-Net as plain tf.Variables plus a forward function (no tfjs-layers).
 *
 * Parameter names: [stem/conv{1,2}/... when grid > 1], enc{l}/conv{1,2}/{kernel,bias}, bottom/conv{1,2}/...,
 * dec{l}/conv{1,2}/..., out/{kernel,bias}. A grid-1 network has exactly the parameters it had before grids existed.
 * Owner: the UNet object owns its variables; call disposeUNet() when done.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBiasAct, maxPool2x2, upConcat } from '../../tensor/ops.js';
import { makeUNetConfig, unetDivisor, type UNetConfig } from './config.js';

export interface NamedTensorData {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface UNet {
  readonly config: UNetConfig;
  /** Trainable parameters in a fixed order. */
  readonly params: ReadonlyArray<{ name: string; variable: tf.Variable }>;
}

/** Mulberry32 + Box-Muller, seeded (deterministic initialisation independent of tfjs' RNG). */
function normalSampler(seed: number): () => number {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
}

/** Parameter shapes in order (names -> shapes). */
export function unetParamShapes(config: UNetConfig): Array<{ name: string; shape: number[] }> {
  const out: Array<{ name: string; shape: number[] }> = [];
  const conv = (name: string, k: number, cin: number, cout: number) => {
    out.push({ name: `${name}/kernel`, shape: [k, k, cin, cout] }, { name: `${name}/bias`, shape: [cout] });
  };
  let cin = config.inputChannels;
  if (config.grid > 1) {
    conv('stem/conv1', 3, cin, config.filters);
    conv('stem/conv2', 3, config.filters, config.filters);
    cin = config.filters;
  }
  for (let l = 0; l < config.depth; l++) {
    const f = config.filters * 2 ** l;
    conv(`enc${l}/conv1`, 3, cin, f);
    conv(`enc${l}/conv2`, 3, f, f);
    cin = f;
  }
  const fb = config.filters * 2 ** config.depth;
  conv('bottom/conv1', 3, cin, fb);
  conv('bottom/conv2', 3, fb, fb);
  let below = fb;
  for (let l = config.depth - 1; l >= 0; l--) {
    const f = config.filters * 2 ** l;
    conv(`dec${l}/conv1`, 3, f + below, f);
    conv(`dec${l}/conv2`, 3, f, f);
    below = f;
  }
  conv('out', 1, below, config.outputChannels);
  return out;
}

/** New U-Net with He-normal kernels (std sqrt(2/fanIn); the linear output layer uses sqrt(1/fanIn)) and zero biases. */
export function createUNet(partial: Partial<UNetConfig> & Pick<UNetConfig, 'inputChannels' | 'outputChannels'>): UNet {
  const config = makeUNetConfig(partial);
  const normal = normalSampler(config.seed);
  const params = unetParamShapes(config).map(({ name, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('/kernel')) {
      const fanIn = shape[0] * shape[1] * shape[2];
      const std = Math.sqrt((name.startsWith('out/') ? 1 : 2) / fanIn);
      for (let i = 0; i < n; i++) data[i] = std * normal();
    }
    const init = tf.tensor(data, shape);
    const variable = tf.variable(init, true, `unet_${config.seed}_${name}_${uid++}`);
    init.dispose();
    return { name, variable };
  });
  return { config, params };
}
let uid = 0;

/**
 * Raw network output [B, H/grid, W/grid, outputChannels] for x [B, H, W, inputChannels]; H, W divisible by
 * grid * 2^depth. With grid 2 the stem's two convolutions run at full resolution, then a 2x2 max-pool, then the U-Net.
 */
export function unetForward(unet: UNet, x: tf.Tensor4D): tf.Tensor4D {
  const { config } = unet;
  const d = unetDivisor(config);
  if (x.shape[1] % d || x.shape[2] % d) throw new Error(`unet: input ${x.shape[1]}x${x.shape[2]} is not divisible by ${d} (pad it)`);
  if (x.shape[3] !== config.inputChannels) throw new Error(`unet: input has ${x.shape[3]} channels, expected ${config.inputChannels}`);
  return tf.tidy(() => {
    let i = 0;
    const p = unet.params;
    const conv = (h: tf.Tensor4D, relu: boolean) => {
      const w = p[i++].variable as tf.Variable<tf.Rank.R4>;
      const b = p[i++].variable as tf.Variable<tf.Rank.R1>;
      return conv2dBiasAct(h, w, b, relu);
    };
    let h = x;
    if (config.grid > 1) h = maxPool2x2(conv(conv(h, true), true));
    const skips: tf.Tensor4D[] = [];
    for (let l = 0; l < config.depth; l++) {
      h = conv(conv(h, true), true);
      skips.push(h);
      h = maxPool2x2(h);
    }
    h = conv(conv(h, true), true);
    for (let l = config.depth - 1; l >= 0; l--) {
      h = upConcat(skips[l], h);
      h = conv(conv(h, true), true);
    }
    return conv(h, false);
  });
}

export function unetVariables(unet: UNet): tf.Variable[] {
  return unet.params.map((p) => p.variable);
}

const isEncoder = (name: string) => /^(stem|enc\d+|bottom)\//.test(name);

/** The decoder and output-layer variables (everything but enc* and bottom): what trains while the encoder is frozen. */
export function unetDecoderVariables(unet: UNet): tf.Variable[] {
  return unet.params.filter((p) => !isEncoder(p.name)).map((p) => p.variable);
}

/**
 * Every variable, decoder first, for training loops that may freeze the encoder: tfjs's Adam keys its moment slots
 * by position in the variable list, so the frozen phase's list (the decoder) must be a prefix of the full one.
 */
export function unetTrainableVariables(unet: UNet): tf.Variable[] {
  return [...unetDecoderVariables(unet), ...unet.params.filter((p) => isEncoder(p.name)).map((p) => p.variable)];
}

export function disposeUNet(unet: UNet): void {
  for (const p of unet.params) p.variable.dispose();
}

/** Copy the weights out (synchronous read). */
export function getUNetWeights(unet: UNet): NamedTensorData[] {
  return unet.params.map(({ name, variable }) => ({ name, shape: variable.shape.slice(), data: variable.dataSync() as Float32Array }));
}

/** Assign weights by name; every parameter must be present with the right shape. */
export function setUNetWeights(unet: UNet, tensors: NamedTensorData[]): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const { name, variable } of unet.params) {
    const t = byName.get(name);
    if (!t) throw new Error(`weights: missing tensor ${name}`);
    if (t.shape.length !== variable.shape.length || t.shape.some((d, k) => d !== variable.shape[k]))
      throw new Error(`weights: ${name} has shape [${t.shape}], expected [${variable.shape}]`);
    tf.tidy(() => variable.assign(tf.tensor(t.data, t.shape)));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Archive: "SCWA" magic, uint32 LE header length, JSON header (utf-8, space-padded to a multiple of 4),
// then the raw float32 little-endian data of each tensor in header order.

const MAGIC = [0x53, 0x43, 0x57, 0x41]; // "SCWA"
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ArchiveHeader<S> {
  spec: S;
  tensors: Array<{ name: string; shape: number[] }>;
}

export function encodeArchive<S>(spec: S, tensors: NamedTensorData[]): Uint8Array {
  let json = JSON.stringify({ spec, tensors: tensors.map((t) => ({ name: t.name, shape: t.shape })) });
  const enc = new TextEncoder();
  let head = enc.encode(json);
  const pad = (4 - ((8 + head.length) % 4)) % 4;
  if (pad) {
    json += ' '.repeat(pad);
    head = enc.encode(json);
  }
  const total = 8 + head.length + tensors.reduce((a, t) => a + 4 * t.data.length, 0);
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, head.length, true);
  out.set(head, 8);
  let off = 8 + head.length;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`archive: ${t.name} has ${t.data.length} values for shape [${t.shape}]`);
    if (LITTLE_ENDIAN) out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, 4 * n), off);
    else {
      const dv = new DataView(out.buffer, off, 4 * n);
      for (let i = 0; i < n; i++) dv.setFloat32(4 * i, t.data[i], true);
    }
    off += 4 * n;
  }
  return out;
}

export function decodeArchive<S>(bytes: Uint8Array): { spec: S; tensors: NamedTensorData[] } {
  if (bytes.length < 8 || MAGIC.some((m, i) => bytes[i] !== m)) throw new Error('archive: not a sparsecell weights archive (bad magic)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hl = dv.getUint32(4, true);
  if (8 + hl > bytes.length) throw new Error('archive: truncated header');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hl))) as ArchiveHeader<S>;
  if (!header || typeof header !== 'object' || !Array.isArray(header.tensors)) throw new Error('archive: header has no tensor list');
  let off = 8 + hl;
  const tensors = header.tensors.map(({ name, shape }) => {
    if (typeof name !== 'string' || !Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`archive: tensor ${JSON.stringify(name)} has an invalid shape ${JSON.stringify(shape)}`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (off + 4 * n > bytes.length) throw new Error(`archive: truncated data for ${name}`);
    const data = new Float32Array(n);
    if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(bytes.subarray(off, off + 4 * n));
    else for (let i = 0; i < n; i++) data[i] = dv.getFloat32(off + 4 * i, true);
    off += 4 * n;
    for (let i = 0; i < n; i++) if (!Number.isFinite(data[i])) throw new Error(`archive: tensor ${name} holds ${data[i]} at element ${i}`);
    return { name, shape, data };
  });
  if (off !== bytes.length) throw new Error(`archive: ${bytes.length - off} trailing bytes`);
  return { spec: header.spec, tensors };
}
