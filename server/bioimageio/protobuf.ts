/**
 * A minimal protocol-buffers wire encoder and decoder (pure): enough for the ONNX schema (varints, 64-bit
 * integers as JS numbers below 2^53, length-delimited strings/bytes/messages, fixed32 floats). Field numbers
 * and types come from the caller (onnx.ts follows onnx/onnx.proto).
 */

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** Builds one message; nested messages are written by `message(field, w)` with their own writer. */
export class PbWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private varint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`protobuf: ${v} is not a safe integer`);
    const out: number[] = [];
    if (v < 0) {
      // two's complement over 64 bits (10 bytes), as protobuf encodes negative int64
      let big = BigInt.asUintN(64, BigInt(v));
      while (big >= 0x80n) {
        out.push(Number(big & 0x7fn) | 0x80);
        big >>= 7n;
      }
      out.push(Number(big));
    } else {
      while (v >= 0x80) {
        out.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      out.push(v);
    }
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  float(field: number, f: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    this.push(b);
    return this;
  }

  message(field: number, w: PbWriter): this {
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

export type PbValue = { wire: 0; n: bigint } | { wire: 1 | 5; raw: Uint8Array } | { wire: 2; raw: Uint8Array };

/** One message's fields: field number -> values in order of appearance. Sub-messages stay raw bytes. */
export class PbMessage {
  constructor(readonly fields: Map<number, PbValue[]>) {}

  static decode(buf: Uint8Array, what = 'message'): PbMessage {
    const fields = new Map<number, PbValue[]>();
    let off = 0;
    const varint = (): bigint => {
      let v = 0n,
        shift = 0n;
      for (;;) {
        if (off >= buf.length) throw new Error(`protobuf: truncated ${what}`);
        const b = buf[off++];
        v |= BigInt(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
        shift += 7n;
        if (shift > 63n) throw new Error(`protobuf: bad varint in ${what}`);
      }
    };
    while (off < buf.length) {
      const key = Number(varint());
      const field = Math.floor(key / 8),
        wire = key & 7;
      if (field < 1) throw new Error(`protobuf: bad field number in ${what}`);
      let value: PbValue;
      if (wire === 0) value = { wire, n: varint() };
      else if (wire === 1 || wire === 5) {
        const n = wire === 1 ? 8 : 4;
        if (off + n > buf.length) throw new Error(`protobuf: truncated ${what}`);
        value = { wire, raw: buf.subarray(off, off + n) };
        off += n;
      } else if (wire === 2) {
        const n = Number(varint());
        if (off + n > buf.length) throw new Error(`protobuf: truncated ${what}`);
        value = { wire, raw: buf.subarray(off, off + n) };
        off += n;
      } else throw new Error(`protobuf: unsupported wire type ${wire} in ${what}`);
      let list = fields.get(field);
      if (!list) fields.set(field, (list = []));
      list.push(value);
    }
    return new PbMessage(fields);
  }

  private all(field: number): PbValue[] {
    return this.fields.get(field) ?? [];
  }

  has(field: number): boolean {
    return this.fields.has(field);
  }

  /** Integer values (unpacked or packed); int64 as numbers (throws beyond 2^53). */
  ints(field: number): number[] {
    const out: number[] = [];
    for (const v of this.all(field)) {
      if (v.wire === 0) out.push(toNumber(BigInt.asIntN(64, v.n)));
      else if (v.wire === 2) {
        const inner = PbMessage.decode(concatVarints(v.raw), 'packed integers');
        for (const x of inner.all(1)) if (x.wire === 0) out.push(toNumber(BigInt.asIntN(64, x.n)));
      }
    }
    return out;
  }

  int(field: number, dflt = 0): number {
    const v = this.ints(field);
    return v.length ? v[v.length - 1] : dflt;
  }

  float(field: number): number | undefined {
    const v = this.all(field)
      .filter((x) => x.wire === 5)
      .pop();
    return v && v.wire === 5 ? new DataView(v.raw.buffer, v.raw.byteOffset, 4).getFloat32(0, true) : undefined;
  }

  /** Packed or unpacked float32 values. */
  floats(field: number): number[] {
    const out: number[] = [];
    for (const v of this.all(field)) {
      const dv = new DataView(v.wire !== 0 ? v.raw.buffer : new ArrayBuffer(0), v.wire !== 0 ? v.raw.byteOffset : 0, v.wire !== 0 ? v.raw.byteLength : 0);
      if (v.wire === 5) out.push(dv.getFloat32(0, true));
      else if (v.wire === 2) for (let i = 0; i + 4 <= v.raw.length; i += 4) out.push(dv.getFloat32(i, true));
    }
    return out;
  }

  bytes(field: number): Uint8Array[] {
    return this.all(field).flatMap((v) => (v.wire === 2 ? [v.raw] : []));
  }

  strings(field: number): string[] {
    return this.bytes(field).map((b) => utf8d.decode(b));
  }

  string(field: number, dflt = ''): string {
    const s = this.strings(field);
    return s.length ? s[s.length - 1] : dflt;
  }

  messages(field: number, what: string): PbMessage[] {
    return this.bytes(field).map((b) => PbMessage.decode(b, what));
  }
}

function toNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`protobuf: integer ${v} is too large`);
  return Number(v);
}

/** A packed run of varints re-tagged as repeated field 1 (so the message decoder can read it). */
function concatVarints(raw: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (i === 0 || !(raw[i - 1] & 0x80)) out.push(0x08);
    out.push(raw[i]);
  }
  return Uint8Array.from(out);
}
