/**
 * TIFF bytes <-> typed arrays (no file I/O here: callers pass bytes). The reader is our own and bounded: it parses
 * the IFD chain with every offset and count checked against the file (a looping chain is refused), checks
 * width x height x samples x pages against `maxElements` before it allocates anything, and decodes each strip or
 * tile (none, LZW, PackBits, Deflate 8 and Adobe-Deflate 32946, horizontal predictor 2) into exactly the bytes the
 * page needs: a strip that decodes to more or fewer bytes, or whose LZW codes fall outside the table, is corrupt.
 * Every decoder is linear in its input and output, so no file makes it spin. The daemon runs it in a worker
 * thread with a deadline as well (handlers/tiff-image.ts). Encoding is a small little-endian writer.
 *
 * Supported: 1 or more samples per pixel (chunky), uint8 / uint16 / int16 / int32 / float32 (and int8 /
 * uint32 / float64 on reading, converted to the nearest supported dtype), one page or a stack of pages of
 * equal size (pages -> the leading Z or T axis; the caller decides which).
 */
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

export interface DecodeTiffOptions {
  /** Refuse (TiffLimitError) a file whose pages x height x width x samples exceeds this, before allocating. */
  maxElements?: number;
}

/** The file is well-formed but larger than the caller allows. */
export class TiffLimitError extends Error {
  readonly reason = 'limit';
}

const fail = (msg: string): never => {
  throw new Error(`TIFF: ${msg}`);
};

/** Tags the reader uses; all others are skipped without reading their values. */
const WANTED = new Set([256, 257, 258, 259, 270, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 339]);
const TYPE_BYTES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4 };
/** Longest ImageDescription read (only "images=N" of ImageJ is used). */
const MAX_DESCRIPTION = 64 * 1024;

interface Ifd {
  tags: Map<number, number[]>;
  description: string;
}

function readIfds(u8: Uint8Array, dv: DataView, le: boolean, maxElements: number): Ifd[] {
  const len = u8.length;
  const ifds: Ifd[] = [];
  const seen = new Set<number>();
  let off = dv.getUint32(4, le);
  let pageElements = 0;
  while (off !== 0) {
    if (seen.has(off)) fail('the IFD chain loops');
    seen.add(off);
    if (off + 2 > len) fail(`IFD offset ${off} is outside the ${len}-byte file`);
    const n = dv.getUint16(off, le);
    if (off + 2 + 12 * n + 4 > len) fail(`IFD at ${off} with ${n} entries runs past the end of the file`);
    const tags = new Map<number, number[]>();
    let description = '';
    for (let e = 0; e < n; e++) {
      const p = off + 2 + 12 * e;
      const tag = dv.getUint16(p, le),
        type = dv.getUint16(p + 2, le),
        count = dv.getUint32(p + 4, le);
      const size = TYPE_BYTES[type];
      if (!WANTED.has(tag) || !size) continue;
      const bytes = count * size;
      const at = bytes <= 4 ? p + 8 : dv.getUint32(p + 8, le);
      if (at + bytes > len) fail(`tag ${tag} (${count} values) points past the end of the file`);
      if (type === 2) {
        description = new TextDecoder('latin1').decode(u8.subarray(at, at + Math.min(count, MAX_DESCRIPTION)));
        continue;
      }
      const v = new Array<number>(count);
      for (let i = 0; i < count; i++) {
        const q = at + i * size;
        v[i] =
          type === 3
            ? dv.getUint16(q, le)
            : type === 4
              ? dv.getUint32(q, le)
              : type === 8
                ? dv.getInt16(q, le)
                : type === 9
                  ? dv.getInt32(q, le)
                  : type === 6
                    ? dv.getInt8(q)
                    : u8[q];
      }
      tags.set(tag, v);
    }
    off = dv.getUint32(off + 2 + 12 * n, le);
    if (!tags.has(256)) continue; // not an image (e.g. an EXIF directory)
    ifds.push({ tags, description });
    // A chain of many small pages is refused as soon as it outgrows the limit, not after reading it all.
    if (ifds.length === 1) pageElements = Math.max(1, (tags.get(256)![0] ?? 0) * (tags.get(257)?.[0] ?? 0) * (tags.get(277)?.[0] ?? 1));
    if (ifds.length * pageElements > maxElements) {
      throw new TiffLimitError(
        ifds.length === 1
          ? `TIFF page has ${pageElements} elements; the limit is ${maxElements} elements`
          : `TIFF has at least ${ifds.length} pages of ${pageElements} elements; the limit is ${maxElements} elements`,
      );
    }
  }
  return ifds;
}

const tag1 = (ifd: Ifd, t: number): number | undefined => ifd.tags.get(t)?.[0];

/** TIFF LZW (MSB-first codes of 9 to 12 bits, early change) into exactly `need` bytes. */
export function lzwDecode(src: Uint8Array, need: number): Uint8Array {
  if (src.length >= 2 && src[0] === 0 && src[1] & 1) fail('old-style (LSB-first) LZW is not supported');
  const out = new Uint8Array(need);
  const prefix = new Int16Array(4096),
    suffix = new Uint8Array(4096),
    first = new Uint8Array(4096),
    length = new Uint16Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    first[i] = i;
    length[i] = 1;
  }
  let next = 258,
    width = 9,
    prev = -1,
    o = 0,
    pos = 0,
    bits = 0,
    nbits = 0;
  for (;;) {
    while (nbits < width && pos < src.length) {
      bits = ((bits << 8) | src[pos++]) & 0xffffff;
      nbits += 8;
    }
    if (nbits < width) break; // data ended without an EOI code
    const code = (bits >>> (nbits - width)) & ((1 << width) - 1);
    nbits -= width;
    if (code === 257) break;
    if (code === 256) {
      next = 258;
      width = 9;
      prev = -1;
      continue;
    }
    if (prev < 0) {
      if (code > 255) fail(`corrupt LZW strip: code ${code} where a literal must follow a clear code`);
    } else {
      if (code > next) fail(`corrupt LZW strip: code ${code} is beyond the table (${next} entries)`);
      if (next >= 4096) fail('corrupt LZW strip: the code table overflows without a clear code');
      prefix[next] = prev;
      suffix[next] = code < next ? first[code] : first[prev];
      first[next] = first[prev];
      length[next] = length[prev] + 1;
      next++;
      if (next >= (1 << width) - 1 && width < 12) width++;
    }
    const n = length[code];
    if (o + n > need) fail(`corrupt LZW strip: it decodes to more than the ${need} bytes the page needs`);
    for (let c = code, q = o + n - 1; c >= 0; c = prefix[c]) out[q--] = suffix[c];
    o += n;
    prev = code;
  }
  if (o < need) fail(`LZW strip decodes to ${o} bytes; the page needs ${need}`);
  return out;
}

/** PackBits (Apple / TIFF 32773) into exactly `need` bytes; a run past the end of the strip is corrupt. */
export function packBitsDecode(src: Uint8Array, need: number): Uint8Array {
  const out = new Uint8Array(need);
  let i = 0,
    o = 0;
  while (o < need) {
    if (i >= src.length) fail(`PackBits strip decodes to ${o} bytes; the page needs ${need}`);
    const h = src[i++];
    if (h < 128) {
      const n = h + 1;
      if (i + n > src.length) fail('corrupt PackBits strip: a literal run is cut off');
      if (o + n > need) fail(`corrupt PackBits strip: it decodes to more than the ${need} bytes the page needs`);
      out.set(src.subarray(i, i + n), o);
      i += n;
      o += n;
    } else if (h > 128) {
      const n = 257 - h;
      if (i >= src.length) fail('corrupt PackBits strip: a repeat run is cut off');
      if (o + n > need) fail(`corrupt PackBits strip: it decodes to more than the ${need} bytes the page needs`);
      out.fill(src[i++], o, o + n);
      o += n;
    }
  }
  return out;
}

/** One strip or tile into exactly `need` bytes (the inflated size is capped at `need`). */
function decodeChunk(src: Uint8Array, cmp: number, need: number): Uint8Array {
  switch (cmp) {
    case 1:
      if (src.length < need) fail(`strip holds ${src.length} bytes; the page needs ${need}`);
      return src.subarray(0, need);
    case 5:
      return lzwDecode(src, need);
    case 32773:
      return packBitsDecode(src, need);
    case 8:
    case 32946: {
      let out: Buffer;
      try {
        out = inflateSync(src, { maxOutputLength: Math.max(need, 1) });
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') fail(`Deflate strip inflates to more than the ${need} bytes the page needs`);
        return fail(`corrupt Deflate strip: ${(e as Error).message}`);
      }
      if (out.length !== need) fail(`Deflate strip inflates to ${out.length} bytes; the page needs ${need}`);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    default:
      return fail(`compression ${cmp} is not supported`);
  }
}

/** Undo horizontal differencing (predictor 2) in place on `rows` rows of `width` pixels. */
function undoPredictor(buf: Uint8Array, rows: number, width: number, spp: number, bytes: number, le: boolean): void {
  const n = width * spp;
  if (bytes === 1) {
    for (let r = 0; r < rows; r++) for (let i = r * n + spp; i < (r + 1) * n; i++) buf[i] = (buf[i] + buf[i - spp]) & 0xff;
    return;
  }
  if (bytes !== 2 && bytes !== 4) fail(`predictor 2 with ${8 * bytes}-bit samples is not supported`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let r = 0; r < rows; r++)
    for (let i = r * n + spp; i < (r + 1) * n; i++) {
      if (bytes === 2) dv.setUint16(2 * i, (dv.getUint16(2 * i, le) + dv.getUint16(2 * (i - spp), le)) & 0xffff, le);
      else dv.setUint32(4 * i, (dv.getUint32(4 * i, le) + dv.getUint32(4 * (i - spp), le)) >>> 0, le);
    }
}

/** The raw sample bytes of one page (rows x width x spp x bytes), decoded strip by strip or tile by tile. */
function pageBytes(u8: Uint8Array, ifd: Ifd, W: number, H: number, spp: number, bytes: number, le: boolean): Uint8Array {
  const cmp = tag1(ifd, 259) ?? 1;
  const predictor = tag1(ifd, 317) ?? 1;
  if (predictor !== 1 && predictor !== 2) fail(`predictor ${predictor} is not supported`);
  const rowBytes = W * spp * bytes;
  const out = new Uint8Array(H * rowBytes);
  const chunk = (i: number, offsets: number[], counts: number[] | undefined, need: number): Uint8Array => {
    const at = offsets[i];
    const count = counts?.[i] ?? (cmp === 1 ? need : fail(`strip ${i} has no byte count`));
    if (at === undefined || at + count > u8.length) fail(`strip ${i} lies outside the file`);
    return decodeChunk(u8.subarray(at, at + count), cmp, need);
  };
  const tw = tag1(ifd, 322);
  if (tw !== undefined) {
    const th = tag1(ifd, 323) ?? fail('tiled page without TileLength');
    if (tw < 1 || th < 1) fail('tile size must be positive');
    const across = Math.ceil(W / tw),
      down = Math.ceil(H / th);
    const offsets = ifd.tags.get(324) ?? [],
      counts = ifd.tags.get(325);
    if (offsets.length < across * down) fail(`tiled page has ${offsets.length} tiles; its size needs ${across * down}`);
    const tileRow = tw * spp * bytes;
    for (let ty = 0; ty < down; ty++)
      for (let tx = 0; tx < across; tx++) {
        const t = chunk(ty * across + tx, offsets, counts, th * tileRow);
        if (predictor === 2) undoPredictor(t, th, tw, spp, bytes, le);
        const rows = Math.min(th, H - ty * th),
          cols = Math.min(tw, W - tx * tw) * spp * bytes;
        for (let r = 0; r < rows; r++) out.set(t.subarray(r * tileRow, r * tileRow + cols), (ty * th + r) * rowBytes + tx * tileRow);
      }
    return out;
  }
  const rps = Math.min(tag1(ifd, 278) ?? H, H);
  if (rps < 1) fail('RowsPerStrip must be positive');
  const offsets = ifd.tags.get(273) ?? fail('page has no strip offsets');
  const counts = ifd.tags.get(279);
  const strips = Math.ceil(H / rps);
  if (offsets.length < strips) fail(`page has ${offsets.length} strips; ${H} rows of ${rps} need ${strips}`);
  for (let s = 0; s < strips; s++) {
    const rows = Math.min(rps, H - s * rps);
    const d = chunk(s, offsets, counts, rows * rowBytes);
    if (predictor === 2) undoPredictor(d, rows, W, spp, bytes, le);
    out.set(d, s * rps * rowBytes);
  }
  return out;
}

/**
 * Decode TIFF bytes into a typed array. Throws an Error ("TIFF: ...") on corrupt data or unsupported layouts
 * (planar, bit depths < 8, pages of mixed sizes), and a TiffLimitError when the image is larger than maxElements.
 */
export function decodeTiff(bytes: Uint8Array | ArrayBuffer, opts: DecodeTiffOptions = {}): TiffImage {
  const u8 = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  const maxElements = opts.maxElements ?? Number.MAX_SAFE_INTEGER;
  if (u8.length < 8 || !((u8[0] === 0x49 && u8[1] === 0x49) || (u8[0] === 0x4d && u8[1] === 0x4d))) {
    throw new Error('TIFF: not a TIFF file (bad byte-order mark)');
  }
  const le = u8[0] === 0x49;
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const magic = dv.getUint16(2, le);
  if (magic === 43) fail('BigTIFF is not supported');
  if (magic !== 42) fail(`bad magic number ${magic}`);
  const ifds = readIfds(u8, dv, le, maxElements);
  if (ifds.length === 0) throw new Error('TIFF: no image in file');
  const first = ifds[0];
  const W = tag1(first, 256) ?? 0,
    H = tag1(first, 257) ?? 0;
  if (W < 1 || H < 1) fail(`image size ${W}x${H} is empty`);
  const spp = tag1(first, 277) ?? 1;
  const bps = tag1(first, 258) ?? 1;
  const fmt = tag1(first, 339) ?? 1; // 1 uint, 2 int, 3 float
  if (spp < 1) fail('SamplesPerPixel must be positive');
  if ((tag1(first, 284) ?? 1) !== 1 && spp > 1) throw new Error('TIFF: planar configuration 2 is not supported');
  if (![8, 16, 32, 64].includes(bps)) throw new Error(`TIFF: ${bps} bits per sample is not supported`);
  const bpsB = bps / 8;
  const n = W * H * spp;
  // ImageJ hyperstacks may carry only the first IFD: "images=N" in ImageDescription, data contiguous
  const ij = /images=(\d+)/.exec(first.description);
  const ijPages = ifds.length === 1 && ij && Number(ij[1]) > 1 && (tag1(first, 259) ?? 1) === 1 ? Number(ij[1]) : 0;
  const pages = ijPages || ifds.length;
  // Checked before anything of the image's size is allocated.
  if (pages * n > maxElements) throw new TiffLimitError(`TIFF has ${pages * n} elements (${pages} x ${H} x ${W} x ${spp}); the limit is ${maxElements}`);
  let dtype: TiffDtype;
  if (fmt === 3) dtype = 'float32';
  else if (bps === 8) dtype = fmt === 2 ? 'int16' : 'uint8';
  else if (bps === 16) dtype = fmt === 2 ? 'int16' : 'uint16';
  else if (bps === 32)
    dtype = 'int32'; // uint32 is read into int32 (values must fit)
  else throw new Error('TIFF: 64-bit integer samples are not supported');
  if (fmt === 3 && bps < 32) fail(`${bps}-bit floating-point samples are not supported`);
  if (ijPages) {
    const start = (first.tags.get(273) ?? fail('page has no strip offsets'))[0];
    const len = ijPages * n * bpsB;
    if (start + len > u8.length) throw new Error('TIFF: ImageJ stack data is truncated');
    const out = alloc(dtype, pages * n);
    const sdv = new DataView(u8.buffer, u8.byteOffset + start, len);
    for (let i = 0; i < ijPages * n; i++) out[i] = readSample(sdv, i, bps, fmt, le);
    return { dtype, pages, height: H, width: W, channels: spp, data: out };
  }
  ifds.forEach((ifd, p) => {
    if (tag1(ifd, 256) !== W || tag1(ifd, 257) !== H || (tag1(ifd, 258) ?? 1) !== bps || (tag1(ifd, 277) ?? 1) !== spp || (tag1(ifd, 339) ?? 1) !== fmt) {
      throw new Error(`TIFF: page ${p} differs in size or sample type from page 0`);
    }
  });
  const out = alloc(dtype, pages * n);
  ifds.forEach((ifd, p) => {
    const raw = pageBytes(u8, ifd, W, H, spp, bpsB, le);
    const pdv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const o = p * n;
    for (let i = 0; i < n; i++) out[o + i] = readSample(pdv, i, bps, fmt, le);
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
    case 'uint8':
      return new Uint8Array(n);
    case 'uint16':
      return new Uint16Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'float32':
      return new Float32Array(n);
  }
}

const FORMAT: Record<TiffDtype, [bits: number, sampleFormat: number]> = {
  uint8: [8, 1],
  uint16: [16, 1],
  int16: [16, 2],
  int32: [32, 2],
  float32: [32, 3],
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
  const pages = img.pages ?? 1,
    channels = img.channels ?? 1;
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
  out[0] = 0x49;
  out[1] = 0x49;
  dv.setUint16(2, 42, true);
  dv.setUint32(4, 8, true);
  strips.forEach((s, p) => {
    const { ifd, extra, dataOff } = layout[p];
    let q = ifd;
    dv.setUint16(q, nTags, true);
    q += 2;
    const entry = (t: number, type: 3 | 4, count: number, value: number) => {
      dv.setUint16(q, t, true);
      dv.setUint16(q + 2, type, true);
      dv.setUint32(q + 4, count, true);
      if (type === 3 && count === 1) dv.setUint16(q + 8, value, true);
      else dv.setUint32(q + 8, value, true);
      q += 12;
    };
    const perSample = (t: number, value: number, at: number) => {
      if (channels === 1) entry(t, 3, 1, value);
      else if (channels === 2) {
        entry(t, 3, 2, 0);
        dv.setUint16(q - 4, value, true);
        dv.setUint16(q - 2, value, true);
      } else {
        for (let c = 0; c < channels; c++) dv.setUint16(at + 2 * c, value, true);
        entry(t, 3, channels, at);
      }
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
