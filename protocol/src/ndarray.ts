/**
 * NdArray <-> typed array conversion (base64, little-endian, optional deflate), shared by server and TS client.
 * decodeNdArray checks sizes BEFORE decoding: the element count against a limit, and the base64 length
 * against shape x dtype, so a hostile shape can never make us allocate.
 */
import { deflateSync, inflateSync, inflate } from 'node:zlib';
import { promisify } from 'node:util';

const inflateAsync = promisify(inflate);
/** decodeNdArrayAsync inflates arrays of at most this many bytes synchronously (a 512 x 512 uint16 patch is 512 KiB). */
export const SYNC_INFLATE_BYTES = 1 << 20;
import type { Dtype, NdArray } from './types.js';

export type TypedArray = Uint8Array | Uint16Array | Int16Array | Int32Array | Float32Array;

export const DTYPE_BYTES: Record<Dtype, number> = { uint8: 1, uint16: 2, int16: 2, int32: 4, float32: 4 };

export class NdArrayError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly reason: 'shape' | 'limit' | 'data',
  ) {
    super(message);
  }
}

export function dtypeOf(a: TypedArray): Dtype {
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Uint16Array) return 'uint16';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int32Array) return 'int32';
  return 'float32';
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * n elements of dtype from buf: a view when buf is exactly its own ArrayBuffer (what inflate and large base64 decodes
 * return) or aligned shared scratch memory (the caller owns its lifetime), otherwise copied into a fresh aligned
 * buffer (Buffer slices may be unaligned or share Node's pool).
 */
export function makeTyped(dtype: Dtype, buf: Buffer, n: number): TypedArray {
  const size = n * DTYPE_BYTES[dtype];
  const own = buf.byteOffset === 0 && buf.length === size && buf.buffer.byteLength === size;
  const shared = typeof SharedArrayBuffer !== 'undefined' && buf.buffer instanceof SharedArrayBuffer && buf.byteOffset % DTYPE_BYTES[dtype] === 0;
  let bytes: Uint8Array;
  if (own || shared) bytes = new Uint8Array(buf.buffer, buf.byteOffset, size);
  else {
    bytes = new Uint8Array(size);
    bytes.set(buf.subarray(0, size));
  }
  const { buffer, byteOffset } = bytes;
  switch (dtype) {
    case 'uint8':
      return bytes;
    case 'uint16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'int16':
      return new Int16Array(buffer, byteOffset, n);
    case 'int32':
      return new Int32Array(buffer, byteOffset, n);
    case 'float32':
      return new Float32Array(buffer, byteOffset, n);
  }
}

/** Exact decoded length in bytes of a base64 string, or -1 when it is not valid base64. */
function base64Bytes(s: string): number {
  if (s.length % 4 !== 0) return -1;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return -1;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

export interface DecodeLimits {
  maxElements: number;
  /** JSON path of the array in the params, for error messages. */
  path?: string;
  /**
   * decodeNdArrayAsync: inflate deflated data of `want` bytes elsewhere (a server's worker thread writing into shared
   * scratch memory). Resolves to the inflated bytes (any length: checked here), or undefined to inflate here; rejects
   * with the reason when the data does not inflate.
   */
  inflate?: (deflated: Buffer, want: number) => Promise<Buffer | undefined>;
}

/** Checks that need no decoding: element count and (for raw data) the exact base64 length. */
function precheck(a: NdArray, limits: DecodeLimits): { n: number; want: number; path: string } {
  const path = limits.path ?? '';
  const n = elementCount(a.shape);
  if (a.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new NdArrayError('shape must hold non-negative integers', `${path}/shape`, 'shape');
  if (n === 0) throw new NdArrayError('array is empty (a dimension is 0)', `${path}/shape`, 'shape');
  if (n > limits.maxElements)
    throw new NdArrayError(`array has ${n} elements; the limit is ${limits.maxElements} (server.info limits.maxArrayElements)`, `${path}/shape`, 'limit');
  const want = n * DTYPE_BYTES[a.dtype];
  const have = base64Bytes(a.data);
  if (have < 0) throw new NdArrayError('data is not valid base64', `${path}/data`, 'data');
  if ((a.encoding ?? 'raw') === 'raw' && have !== want)
    throw new NdArrayError(`data has ${have} bytes; shape ${JSON.stringify(a.shape)} x ${a.dtype} needs ${want}`, `${path}/data`, 'data');
  return { n, want, path };
}

function finish(a: NdArray, buf: Buffer, n: number, want: number, path: string): { data: TypedArray; shape: number[] } {
  if (buf.length !== want)
    throw new NdArrayError(`inflated data has ${buf.length} bytes; shape ${JSON.stringify(a.shape)} x ${a.dtype} needs ${want}`, `${path}/data`, 'data');
  const data = makeTyped(a.dtype, buf, n);
  if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++)
      if (!Number.isFinite(data[i])) throw new NdArrayError(`data holds a non-finite value (NaN or Inf) at element ${i}`, `${path}/data`, 'data');
  }
  return { data, shape: [...a.shape] };
}

const inflateError = (e: unknown, want: number, path: string) =>
  new NdArrayError(`deflate data cannot be inflated to ${want} bytes: ${(e as Error).message}`, `${path}/data`, 'data');

/** Decode; throws NdArrayError naming the field on any inconsistency. Little-endian host assumed (x86/ARM). */
export function decodeNdArray(a: NdArray, limits: DecodeLimits): { data: TypedArray; shape: number[] } {
  const { n, want, path } = precheck(a, limits);
  let buf: Buffer;
  if ((a.encoding ?? 'raw') === 'deflate') {
    try {
      buf = inflateSync(Buffer.from(a.data, 'base64'), { maxOutputLength: want + 1 });
    } catch (e) {
      throw inflateError(e, want, path);
    }
  } else buf = Buffer.from(a.data, 'base64');
  return finish(a, buf, n, want, path);
}

/** decodeNdArray with inflation on the libuv threadpool (keeps a server's event loop free). */
export async function decodeNdArrayAsync(a: NdArray, limits: DecodeLimits): Promise<{ data: TypedArray; shape: number[] }> {
  const { n, want, path } = precheck(a, limits);
  let buf: Buffer;
  if ((a.encoding ?? 'raw') === 'deflate') {
    try {
      // One output chunk of exactly the expected size (zlib's default 16 KiB chunks cost a callback and a copy each,
      // and an exact chunk is viewed by makeTyped without a copy). Small
      // arrays (a painted patch) inflate in place: well under a millisecond, where a trip through libuv's thread
      // pool waits behind every other session's journal writes.
      const opts = { maxOutputLength: want + 1, chunkSize: Math.max(64, Math.min(want, 64 * 1024 * 1024)) };
      const src = Buffer.from(a.data, 'base64');
      buf = (await limits.inflate?.(src, want)) ?? (want <= SYNC_INFLATE_BYTES ? inflateSync(src, opts) : await inflateAsync(src, opts));
    } catch (e) {
      throw inflateError(e, want, path);
    }
  } else buf = Buffer.from(a.data, 'base64');
  return finish(a, buf, n, want, path);
}

export function encodeNdArray(data: TypedArray, shape: readonly number[], opts: { deflate?: boolean } = {}): NdArray {
  if (elementCount(shape) !== data.length) throw new Error(`shape ${JSON.stringify(shape)} does not match ${data.length} elements`);
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (opts.deflate) {
    return { dtype: dtypeOf(data), shape: [...shape], data: deflateSync(bytes, { level: 1 }).toString('base64'), encoding: 'deflate' };
  }
  return { dtype: dtypeOf(data), shape: [...shape], data: bytes.toString('base64') };
}
