/** Small array helpers for tests. */
import { encodeNdArray, type TypedArray } from '../../protocol/src/ndarray.js';
import type { NdArray } from '../../protocol/src/types.js';

export function nd(data: TypedArray, shape: number[], deflate = false): NdArray {
  return encodeNdArray(data, shape, { deflate });
}

/** A 2-D offset1 label patch filled with v. */
export function filled(h: number, w: number, v: number): Uint16Array {
  return new Uint16Array(h * w).fill(v);
}

/** A [0, 1] float image as 8-bit pixels (what a client would send). */
export function toU8(data: Float32Array): Uint8Array {
  return Uint8Array.from(data, (v) => Math.max(0, Math.min(255, Math.round(v * 255))));
}
