/**
 * Worker-thread entry for one TIFF decode (started by handlers/tiff-image.ts with a deadline and heap limits):
 * decodes workerData.bytes and posts the pixels back by transfer, or the error and whether it was a size limit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { decodeTiff, TiffLimitError } from './tiff.js';

const { bytes, maxElements } = workerData as { bytes: Uint8Array; maxElements: number };
try {
  const image = decodeTiff(bytes, { maxElements });
  parentPort!.postMessage({ ok: true, image }, [image.data.buffer as ArrayBuffer]);
} catch (e) {
  parentPort!.postMessage({ ok: false, message: (e as Error).message, limit: e instanceof TiffLimitError });
}
