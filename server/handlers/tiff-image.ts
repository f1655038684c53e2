/**
 * image.add {tiff}: base64 TIFF -> typed pixels + shape (pages -> Z, samples per pixel -> C).
 * The decode runs in a worker thread of its own, with a deadline and a heap limit, so no file can block the event
 * loop or take the daemon's memory: the decoder checks the declared size against maxArrayElements before it
 * allocates, caps every strip at what the page needs, and the worker is terminated when the deadline passes.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RpcError } from '../errors.js';
import type { TypedArray } from '../../protocol/src/ndarray.js';
import type { Dtype } from '../../protocol/src/types.js';
import type { TiffImage } from '../imaging/tiff.js';

/** V8 heap of a decode worker (tags and bookkeeping; the pixels live in an ArrayBuffer bounded by maxElements). */
const DECODE_HEAP_MB = 256;

/** Decodes running at once; more wait their turn (a batch of hostile files costs this many threads, not one each). */
const MAX_DECODES = Math.max(1, Math.min(4, availableParallelism()));
let running = 0;
const waiting: Array<() => void> = [];

async function withDecodeSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_DECODES)
    await new Promise<void>((r) => waiting.push(r)); // a finishing decode hands its slot over
  else running++;
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

type Reply = { ok: true; image: TiffImage } | { ok: false; message: string; limit: boolean };

const invalid = (message: string) => new RpcError('InvalidImage', `cannot decode TIFF: ${message}`, [{ path: '/image/tiff', message }]);
const tooLarge = (message: string) => new RpcError('ResourceLimit', message, [{ path: '/image/tiff', message: 'too large' }]);

/** Decode TIFF bytes off the event loop; rejects with InvalidImage (corrupt, unsupported) or ResourceLimit (size, time, memory). */
export function decodeTiffOffThread(bytes: Uint8Array, maxElements: number, timeoutS: number): Promise<TiffImage> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('../imaging/tiff-worker.js', import.meta.url), {
      workerData: { bytes, maxElements },
      resourceLimits: { maxOldGenerationSizeMb: DECODE_HEAP_MB, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(
      () => settle(() => reject(tooLarge(`TIFF decoding took longer than ${timeoutS} s; the file is too large or too costly to decode`))),
      timeoutS * 1000,
    );
    worker.once('message', (m: Reply) => settle(() => (m.ok ? resolve(m.image) : reject(m.limit ? tooLarge(m.message) : invalid(m.message)))));
    worker.once('error', (e: Error & { code?: string }) =>
      settle(() => reject(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? tooLarge('TIFF decoding ran out of its memory allowance') : invalid(e.message))),
    );
    worker.once('exit', (code) => settle(() => reject(invalid(`decoder exited with code ${code}`))));
  });
}

export async function decodeImageTiff(b64: string, maxElements: number, timeoutS: number): Promise<{ data: TypedArray; shape: number[]; dtype: Dtype }> {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new RpcError('InvalidParams', 'image.tiff is not valid base64', [{ path: '/image/tiff', message: 'not base64' }]);
  }
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  const t = await withDecodeSlot(() => decodeTiffOffThread(bytes, maxElements, timeoutS));
  if (t.pages > 1 && t.channels > 1)
    throw new RpcError('InvalidImage', 'multi-page multi-channel TIFFs are not supported; send one channel per stack', [
      { path: '/image/tiff', message: 'pages and channels' },
    ]);
  const shape = t.pages > 1 ? [t.pages, t.height, t.width] : t.channels > 1 ? [t.height, t.width, t.channels] : [t.height, t.width];
  return { data: t.data, shape, dtype: t.dtype };
}
