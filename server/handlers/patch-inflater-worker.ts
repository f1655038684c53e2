/**
 * Worker-thread entry of handlers/patch-inflater.ts: inflates each deflated patch (at most `want` + 1 bytes, so a
 * longer stream is caught without inflating all of it), copies at most `want` bytes into the caller's shared scratch
 * buffer and reports the inflated length.
 */
import { parentPort } from 'node:worker_threads';
import { inflateSync } from 'node:zlib';

parentPort!.on('message', (m: { id: number; deflated: Uint8Array; want: number; scratch: SharedArrayBuffer }) => {
  try {
    const out = inflateSync(m.deflated, { maxOutputLength: m.want + 1, chunkSize: Math.max(64, m.want) });
    const copied = Math.min(out.length, m.want);
    new Uint8Array(m.scratch, 0, copied).set(out.subarray(0, copied));
    parentPort!.postMessage({ id: m.id, length: out.length });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
