/**
 * Hostile inputs for the hardening tests (issue 16), generated at test time so that no attack file is committed.
 * Each is small: the TIFFs are a few hundred bytes to a few kB, the archives a few kB.
 *   lzwGarbageTiff      64x64 uint8, LZW (5), ~800 bytes of random strip data (hung the daemon's event loop)
 *   packBitsGarbageTiff the same garbage as PackBits (32773) (was accepted as an image)
 *   deflateBombTiff     64x64 uint8 whose Deflate strip inflates to `inflatedMiB` MiB (was inflated in full)
 *   hugeDeclaredTiff    declares 32768x32768 uint16 with 16 bytes of data (allocated 2.2 GB before refusing)
 *   loopingIfdTiff      an IFD whose next-IFD offset points at itself
 *   craftedArchive      model archives with a chosen spec and tensor list (huge filter counts, shapes of 1e9, NaN)
 */
import { deflateSync } from 'node:zlib';
import { encodeArchive, unetParamShapes, type NamedTensorData } from '../server/models/unet/unet.js';

export interface RawTiffOptions {
  width: number;
  height: number;
  bitsPerSample?: number;
  compression: number;
  strip: Uint8Array;
  /** Offset of the next IFD (0 = none); 8 = the IFD itself (a loop). */
  nextIfd?: number;
}

/** A one-page little-endian TIFF with the given header fields and strip bytes, whatever they hold. */
export function rawTiff(o: RawTiffOptions): Uint8Array {
  const entries: Array<[number, number, number, number]> = [
    [256, 4, 1, o.width],
    [257, 4, 1, o.height],
    [258, 3, 1, o.bitsPerSample ?? 8],
    [259, 3, 1, o.compression],
    [262, 3, 1, 1],
    [273, 4, 1, 0],
    [277, 3, 1, 1],
    [278, 4, 1, o.height],
    [279, 4, 1, o.strip.length],
  ];
  const ifdSize = 2 + 12 * entries.length + 4;
  const dataOff = 8 + ifdSize;
  const out = new Uint8Array(dataOff + o.strip.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x49;
  out[1] = 0x49;
  dv.setUint16(2, 42, true);
  dv.setUint32(4, 8, true);
  dv.setUint16(8, entries.length, true);
  entries.forEach(([tag, type, count, value], i) => {
    const p = 10 + 12 * i;
    dv.setUint16(p, tag, true);
    dv.setUint16(p + 2, type, true);
    dv.setUint32(p + 4, count, true);
    const v = tag === 273 ? dataOff : value;
    if (type === 3) dv.setUint16(p + 8, v, true);
    else dv.setUint32(p + 8, v, true);
  });
  dv.setUint32(10 + 12 * entries.length, o.nextIfd ?? 0, true);
  out.set(o.strip, dataOff);
  return out;
}

/** Deterministic pseudo-random bytes (mulberry32). */
export function garbage(n: number, seed = 16): Uint8Array {
  let a = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) >>> 24;
  }
  return out;
}

export const lzwGarbageTiff = (): Uint8Array => rawTiff({ width: 64, height: 64, compression: 5, strip: garbage(720) });
export const packBitsGarbageTiff = (): Uint8Array => rawTiff({ width: 64, height: 64, compression: 32773, strip: garbage(720) });
export const deflateBombTiff = (inflatedMiB = 64): Uint8Array =>
  rawTiff({ width: 64, height: 64, compression: 8, strip: new Uint8Array(deflateSync(Buffer.alloc(inflatedMiB * 1024 * 1024), { level: 9 })) });
export const hugeDeclaredTiff = (): Uint8Array => rawTiff({ width: 32768, height: 32768, bitsPerSample: 16, compression: 1, strip: garbage(16) });
export const loopingIfdTiff = (): Uint8Array => rawTiff({ width: 4, height: 4, compression: 1, strip: garbage(16), nextIfd: 8 });

/** A stardist model spec around the given U-Net config (the family defaults otherwise). */
export function modelSpec(unet: Record<string, number>, familyConfig: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'sparsecell-model',
    modelVersion: 1,
    family: 'stardist',
    familyConfig: { unetDepth: unet.depth, unetFilters: unet.filters, ...familyConfig },
    unet,
    normalization: {},
    version: 3,
    meta: {},
  };
}

/** An archive with every weight the U-Net config implies, filled by `fill` (e.g. () => NaN). */
export function craftedArchive(spec: Record<string, unknown>, fill: (i: number) => number = () => 0.01): Uint8Array {
  const shapes = unetParamShapes(spec.unet as never);
  const tensors: NamedTensorData[] = shapes.map(({ name, shape }) => ({
    name,
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)),
  }));
  return encodeArchive(spec, tensors);
}

/** An archive whose header lists tensors it does not hold (e.g. shape [1e9]). */
export function headerOnlyArchive(spec: Record<string, unknown>, tensors: Array<{ name: string; shape: number[] }>): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ spec, tensors }));
  const out = new Uint8Array(8 + json.length);
  out.set([0x53, 0x43, 0x57, 0x41]);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  return out;
}
