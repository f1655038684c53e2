/**
 * ZIP archives (pure, node:zlib only): write stored/deflated entries; read them back with every size checked
 * against limits before anything is inflated (no ZIP64, no encryption, no multi-disk archives).
 */
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

const DOS_EPOCH = ((2020 - 1980) << 9) | (1 << 5) | 1; // 2020-01-01: fixed, so equal inputs give equal archives

export function writeZip(entries: ZipEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const crc = crc32(e.data) >>> 0;
    const deflated = deflateRawSync(e.data, { level: 6 });
    const useDeflate = deflated.length < e.data.length;
    const body = useDeflate ? new Uint8Array(deflated.buffer, deflated.byteOffset, deflated.byteLength) : e.data;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, 0x0800, true); // utf-8 names
    lv.setUint16(8, useDeflate ? 8 : 0, true);
    lv.setUint16(10, 0, true);
    lv.setUint16(12, DOS_EPOCH, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, e.data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, useDeflate ? 8 : 0, true);
    cv.setUint16(14, DOS_EPOCH, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, e.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local, body);
    centrals.push(central);
    offset += local.length + body.length;
  }
  const cdSize = centrals.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const parts = [...locals, ...centrals, end];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export class ZipError extends Error {}

/**
 * Entries of a ZIP archive by name. `maxTotal` bounds the sum of the uncompressed sizes the archive declares
 * (checked before inflating; each inflate is also capped at its declared size).
 */
export function readZip(bytes: Uint8Array, maxTotal: number): Map<string, Uint8Array> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--)
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw new ZipError('not a zip archive (no end-of-central-directory record)');
  const count = dv.getUint16(eocd + 10, true);
  const cdSize = dv.getUint32(eocd + 12, true),
    cdOff = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOff === 0xffffffff) throw new ZipError('ZIP64 archives are not supported');
  if (cdOff + cdSize > eocd) throw new ZipError('corrupt zip archive (central directory out of range)');
  const dec = new TextDecoder();
  const out = new Map<string, Uint8Array>();
  let p = cdOff,
    total = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > eocd || dv.getUint32(p, true) !== 0x02014b50) throw new ZipError('corrupt zip archive (bad central directory entry)');
    const flags = dv.getUint16(p + 8, true),
      method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true),
      csize = dv.getUint32(p + 20, true),
      usize = dv.getUint32(p + 24, true);
    const nlen = dv.getUint16(p + 28, true),
      xlen = dv.getUint16(p + 30, true),
      clen = dv.getUint16(p + 32, true);
    const local = dv.getUint32(p + 42, true);
    const name = dec.decode(bytes.subarray(p + 46, p + 46 + nlen));
    p += 46 + nlen + xlen + clen;
    if (name.endsWith('/')) continue;
    if (flags & 1) throw new ZipError(`zip entry ${name} is encrypted`);
    if (method !== 0 && method !== 8) throw new ZipError(`zip entry ${name} uses compression method ${method} (only stored and deflate are supported)`);
    total += usize;
    if (total > maxTotal) throw new ZipError(`zip archive expands to more than ${maxTotal} bytes`);
    if (local + 30 > bytes.length || dv.getUint32(local, true) !== 0x04034b50) throw new ZipError(`corrupt zip archive (bad local header of ${name})`);
    const start = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    if (start + csize > bytes.length) throw new ZipError(`corrupt zip archive (${name} is truncated)`);
    const raw = bytes.subarray(start, start + csize);
    let data: Uint8Array;
    try {
      data = method === 0 ? raw : new Uint8Array(inflateRawSync(raw, { maxOutputLength: Math.max(1, usize) }));
    } catch (e) {
      throw new ZipError(`zip entry ${name} cannot be inflated: ${(e as Error).message}`);
    }
    if (data.length !== usize || crc32(data) >>> 0 !== crc) throw new ZipError(`zip entry ${name} is corrupt (size or CRC mismatch)`);
    out.set(name, data);
  }
  return out;
}
