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
