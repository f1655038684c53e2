/**
 * Minimal PNG encoder (8-bit RGB or grey, no interlace, filter 0 on every row), zlib from node:zlib.
 * Pure: no fs, no tfjs.
 */
import { deflateSync } from 'node:zlib';
import { crc32 } from '../storage/crc32.js';

const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  const t = new TextEncoder().encode(type);
  out.set(t, 4);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(t, body));
  return out;
}

/** Encode `pixels` (row-major, `channels` bytes per pixel: 1 = grey, 3 = RGB, 4 = RGBA) as a PNG file. */
export function encodePng(width: number, height: number, pixels: Uint8Array, channels: 1 | 3 | 4 = 3): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`bad PNG size ${width}x${height}`);
  if (pixels.length !== width * height * channels) throw new Error(`PNG pixels: expected ${width * height * channels} bytes, got ${pixels.length}`);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : channels === 3 ? 2 : 6; // colour type
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const idat = new Uint8Array(deflateSync(raw, { level: 9 }));
  const parts = [SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
