/** image.add {tiff}: base64 TIFF -> typed pixels + shape (pages -> Z, samples per pixel -> C). */
import { RpcError } from '../errors.js';
import type { TypedArray } from '../../protocol/src/ndarray.js';
import type { Dtype } from '../../protocol/src/types.js';
import { decodeTiff } from '../imaging/tiff.js';

export function decodeImageTiff(b64: string, maxElements: number): { data: TypedArray; shape: number[]; dtype: Dtype } {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new RpcError('InvalidParams', 'image.tiff is not valid base64', [{ path: '/image/tiff', message: 'not base64' }]);
  }
  let t;
  try {
    t = decodeTiff(new Uint8Array(Buffer.from(b64, 'base64')));
  } catch (e) {
    throw new RpcError('InvalidImage', `cannot decode TIFF: ${(e as Error).message}`, [{ path: '/image/tiff', message: (e as Error).message }]);
  }
  if (t.pages > 1 && t.channels > 1) throw new RpcError('InvalidImage', 'multi-page multi-channel TIFFs are not supported; send one channel per stack', [{ path: '/image/tiff', message: 'pages and channels' }]);
  const shape = t.pages > 1 ? [t.pages, t.height, t.width] : t.channels > 1 ? [t.height, t.width, t.channels] : [t.height, t.width];
  if (t.data.length > maxElements) throw new RpcError('ResourceLimit', `TIFF has ${t.data.length} elements; the limit is ${maxElements}`, [{ path: '/image/tiff', message: 'too large' }]);
  return { data: t.data, shape, dtype: t.dtype };
}
