/** image.add {tiff}: base64 TIFF -> typed pixels. */
import { RpcError } from '../errors.js';
import type { TypedArray } from '../../protocol/src/ndarray.js';
import type { Dtype } from '../../protocol/src/types.js';

export function decodeImageTiff(_b64: string, _maxElements: number): { data: TypedArray; shape: number[]; dtype: Dtype } {
  throw new RpcError('NotImplemented', 'TIFF input is not wired yet');
}
