/**
 * TIFF bytes <-> typed arrays (no file I/O here: callers pass bytes). Decoding uses the `utif` package
 * (UTIF.js) for the IFD parsing and the strip/tile decompression (none, LZW, PackBits, Deflate 8 via pako);
 * Adobe-Deflate (32946) strips are inflated with node:zlib. Encoding is a small little-endian writer
 * (UTIF's encoder only writes big-endian RGBA8 and lacks the SampleFormat tag).
 *
 * Supported: 1 or more samples per pixel (chunky), uint8 / uint16 / int16 / int32 / float32 (and int8 /
 * uint32 / float64 on reading, converted to the nearest supported dtype), one page or a stack of pages of
 * equal size (pages -> the leading Z or T axis; the caller decides which).
 */
import UTIF, { type IFD } from 'utif';
import { deflateSync, inflateSync } from 'node:zlib';

export type TiffDtype = 'uint8' | 'uint16' | 'int16' | 'int32' | 'float32';
export type TiffArray = Uint8Array | Uint16Array | Int16Array | Int32Array | Float32Array;

export interface TiffImage {
  dtype: TiffDtype;
  /** Number of pages (1 for a 2-D image); data is pages x height x width x channels, row-major. */
  pages: number;
  height: number;
  width: number;
  /** Samples per pixel (1 for grayscale). */
  channels: number;
  data: TiffArray;
}

const tag = (ifd: IFD, t: number): number | undefined => {
  const v = ifd[`t${t}`];
  return v && typeof v[0] === 'number' ? (v[0] as number) : undefined;
};

function toArrayBuffer(bytes: Uint8Array | ArrayBuffer): ArrayBuffer {
  if (bytes instanceof ArrayBuffer) return bytes;
  // utif indexes `data.buffer` with absolute offsets: hand it a buffer that starts at byte 0
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function pageBytes(buf: ArrayBuffer, ifd: IFD, ifds: IFD[], bytesPerSample: number): Uint8Array {
  const cmp = tag(ifd, 259) ?? 1;
  const W = tag(ifd, 256) as number, H = tag(ifd, 257) as number;
  if (cmp === 32946 && ifd.t273 && !ifd.t322) {
    // Adobe Deflate: inflate each strip ourselves
    const offs = ifd.t273 as number[], counts = ifd.t279 as number[];
    const parts = offs.map((o, i) => inflateSync(new Uint8Array(buf, o, counts[i])));
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let k = 0;
    for (const p of parts) { out.set(p, k); k += p.length; }
    if ((tag(ifd, 317) ?? 1) !== 1) throw new Error('TIFF: predictor with Adobe Deflate is not supported');
    return out;
  }
  if (![1, 5, 8, 32773].includes(cmp)) throw new Error(`TIFF: compression ${cmp} is not supported`);
  UTIF.decodeImage(buf, ifd, ifds);
  const data = ifd.data;
  if (!data) throw new Error('TIFF: page has no image data');
  const spp = tag(ifd, 277) ?? 1;
  const need = W * H * spp * bytesPerSample;
  if (data.length < need) throw new Error(`TIFF: page data has ${data.length} bytes, expected ${need}`);
  return data.subarray(0, need);
}

/** Decode TIFF bytes into a typed array. Throws on unsupported layouts (planar, bit depths < 8, tiles of mixed sizes). */
export function decodeTiff(bytes: Uint8Array | ArrayBuffer): TiffImage {
  const buf = toArrayBuffer(bytes);
  const u8 = new Uint8Array(buf);
  if (u8.length < 8 || !((u8[0] === 0x49 && u8[1] === 0x49) || (u8[0] === 0x4d && u8[1] === 0x4d))) {
    throw new Error('TIFF: not a TIFF file (bad byte-order mark)');
  }
  const le = u8[0] === 0x49;
  const ifds = UTIF.decode(buf).filter((d) => d.t256 !== undefined);
  if (ifds.length === 0) throw new Error('TIFF: no image in file');
  const first = ifds[0];
  const W = tag(first, 256) as number, H = tag(first, 257) as number;
  const spp = tag(first, 277) ?? 1;
  const bps = tag(first, 258) ?? 1;
  const fmt = tag(first, 339) ?? 1; // 1 uint, 2 int, 3 float
  if ((tag(first, 284) ?? 1) !== 1 && spp > 1) throw new Error('TIFF: planar configuration 2 is not supported');
  if (![8, 16, 32, 64].includes(bps)) throw new Error(`TIFF: ${bps} bits per sample is not supported`);
  const bpsB = bps / 8;
  const n = W * H * spp;
  // ImageJ hyperstacks may carry only the first IFD: "images=N" in ImageDescription, data contiguous
  const desc = first.t270 && typeof first.t270[0] === 'string' ? (first.t270[0] as string) : '';
  const ij = /images=(\d+)/.exec(desc);
  const ijPages = ifds.length === 1 && ij && Number(ij[1]) > 1 && (tag(first, 259) ?? 1) === 1 ? Number(ij[1]) : 0;
  const pages = ijPages || ifds.length;
  let dtype: TiffDtype;
  if (fmt === 3) dtype = 'float32';
  else if (bps === 8) dtype = fmt === 2 ? 'int16' : 'uint8';
  else if (bps === 16) dtype = fmt === 2 ? 'int16' : 'uint16';
  else if (bps === 32) dtype = 'int32'; // uint32 is read into int32 (values must fit)
  else throw new Error('TIFF: 64-bit integer samples are not supported');
  const out = alloc(dtype, pages * n);
  if (ijPages) {
    const start = (first.t273 as number[])[0];
    const len = ijPages * n * bpsB;
    if (start + len > u8.length) throw new Error('TIFF: ImageJ stack data is truncated');
    const dv = new DataView(buf, start, len);
    for (let i = 0; i < ijPages * n; i++) out[i] = readSample(dv, i, bps, fmt, le);
    return { dtype, pages, height: H, width: W, channels: spp, data: out };
  }
  ifds.forEach((ifd, p) => {
    if (tag(ifd, 256) !== W || tag(ifd, 257) !== H || (tag(ifd, 258) ?? 1) !== bps || (tag(ifd, 277) ?? 1) !== spp ||
      (tag(ifd, 339) ?? 1) !== fmt) {
      throw new Error(`TIFF: page ${p} differs in size or sample type from page 0`);
    }
    const raw = pageBytes(buf, ifd, ifds, bpsB);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    // utif already swaps 16-bit big-endian samples to little-endian (it does so for non-DNG files)
    const little = bps === 16 && ifd.t33422 === undefined ? true : le;
    const o = p * n;
    for (let i = 0; i < n; i++) out[o + i] = readSample(dv, i, bps, fmt, little);
    if (bps === 32 && fmt !== 2 && fmt !== 3) {
      for (let i = 0; i < n; i++) if (out[o + i] < 0) throw new Error('TIFF: uint32 value does not fit int32');
    }
  });
  return { dtype, pages, height: H, width: W, channels: spp, data: out };
}

function readSample(dv: DataView, i: number, bps: number, fmt: number, little: boolean): number {
  if (bps === 8) return fmt === 2 ? dv.getInt8(i) : dv.getUint8(i);
  if (bps === 16) return fmt === 2 ? dv.getInt16(2 * i, little) : dv.getUint16(2 * i, little);
  if (bps === 32) return fmt === 3 ? dv.getFloat32(4 * i, little) : fmt === 2 ? dv.getInt32(4 * i, little) : dv.getUint32(4 * i, little);
  return dv.getFloat64(8 * i, little);
}

function alloc(dtype: TiffDtype, n: number): TiffArray {
  switch (dtype) {
    case 'uint8': return new Uint8Array(n);
    case 'uint16': return new Uint16Array(n);
    case 'int16': return new Int16Array(n);
    case 'int32': return new Int32Array(n);
    case 'float32': return new Float32Array(n);
  }
}

const FORMAT: Record<TiffDtype, [bits: number, sampleFormat: number]> = {
  uint8: [8, 1], uint16: [16, 1], int16: [16, 2], int32: [32, 2], float32: [32, 3],
};

export interface EncodeTiffOptions {
  /** 'deflate' writes Compression = 8 (zlib) strips; default 'none'. */
  compression?: 'none' | 'deflate';
}

/**
 * Encode a typed array as a little-endian TIFF: one page per leading index (pages x H x W x channels),
 * one strip per page, MinIsBlack (or RGB for 3 channels).
 */
export function encodeTiff(img: Omit<TiffImage, 'pages' | 'channels'> & { pages?: number; channels?: number }, opts: EncodeTiffOptions = {}): Uint8Array {
  const pages = img.pages ?? 1, channels = img.channels ?? 1;
  const { width: W, height: H, dtype, data } = img;
  const n = W * H * channels;
  if (data.length !== pages * n) throw new Error(`encodeTiff: data has ${data.length} values, expected ${pages}x${H}x${W}x${channels}`);
  const [bits, fmt] = FORMAT[dtype];
  const bpsB = bits / 8;
  const strips: Uint8Array[] = [];
  for (let p = 0; p < pages; p++) {
    const raw = new Uint8Array(n * bpsB);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < n; i++) {
      const v = data[p * n + i];
      if (dtype === 'uint8') dv.setUint8(i, v);
      else if (dtype === 'uint16') dv.setUint16(2 * i, v, true);
      else if (dtype === 'int16') dv.setInt16(2 * i, v, true);
      else if (dtype === 'int32') dv.setInt32(4 * i, v, true);
      else dv.setFloat32(4 * i, v, true);
    }
    strips.push(opts.compression === 'deflate' ? new Uint8Array(deflateSync(raw)) : raw);
  }
  const nTags = 11;
  const ifdSize = 2 + nTags * 12 + 4;
  const bpsArrayBytes = channels > 2 ? 2 * channels : 0; // BitsPerSample / SampleFormat arrays stored out of line
  let size = 8;
  const layout = strips.map((s) => {
    const ifd = size;
    const extra = size + ifdSize;
    const dataOff = extra + 2 * bpsArrayBytes;
    size = dataOff + s.length + (s.length & 1);
    return { ifd, extra, dataOff };
  });
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = 0x49; out[1] = 0x49; dv.setUint16(2, 42, true); dv.setUint32(4, 8, true);
  strips.forEach((s, p) => {
    const { ifd, extra, dataOff } = layout[p];
    let q = ifd;
    dv.setUint16(q, nTags, true); q += 2;
    const entry = (t: number, type: 3 | 4, count: number, value: number) => {
      dv.setUint16(q, t, true); dv.setUint16(q + 2, type, true); dv.setUint32(q + 4, count, true);
      if (type === 3 && count === 1) dv.setUint16(q + 8, value, true); else dv.setUint32(q + 8, value, true);
      q += 12;
    };
    const perSample = (t: number, value: number, at: number) => {
      if (channels === 1) entry(t, 3, 1, value);
      else if (channels === 2) { entry(t, 3, 2, 0); dv.setUint16(q - 4, value, true); dv.setUint16(q - 2, value, true); }
      else { for (let c = 0; c < channels; c++) dv.setUint16(at + 2 * c, value, true); entry(t, 3, channels, at); }
    };
    entry(256, 4, 1, W);
    entry(257, 4, 1, H);
    perSample(258, bits, extra);
    entry(259, 3, 1, opts.compression === 'deflate' ? 8 : 1);
    entry(262, 3, 1, channels === 3 && dtype === 'uint8' ? 2 : 1);
    entry(273, 4, 1, dataOff);
    entry(277, 3, 1, channels);
    entry(278, 4, 1, H);
    entry(279, 4, 1, s.length);
    entry(284, 3, 1, 1);
    perSample(339, fmt, extra + bpsArrayBytes);
    dv.setUint32(q, p + 1 < pages ? layout[p + 1].ifd : 0, true);
    out.set(s, dataOff);
  });
  return out;
}
