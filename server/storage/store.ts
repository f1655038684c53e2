/**
 * The only module that touches the disk. Layout under home:
 *   sessions/<sessionId>/session.json            metadata (atomic rewrite; not rewritten per image)
 *   sessions/<sessionId>/images/<imageId>.bin    raw image bytes (written once, atomically)
 *   sessions/<sessionId>/images/<imageId>.json   image metadata (written once, after the bytes; older stores list
 *                                                images in session.json instead, and are still read)
 *   sessions/<sessionId>/labels/<imageId>.snap   label snapshot: header + int32 labels + uint8 correction flags
 *   sessions/<sessionId>/labels/<imageId>.<seg>.jnl  append-only journal segments of label updates
 *   sessions/<sessionId>/model/checkpoint.bin    latest model archive (atomic)
 * Durability: a label update is acknowledged after its journal record is written and fsync'd. Records carry a
 * CRC so a record torn by a crash (never acknowledged) is dropped on replay. Compaction switches appends to a new
 * segment, writes a snapshot (temp file, fsync, rename) and only then deletes the older segments; records with
 * generation <= the snapshot's are skipped on replay, so a crash at any point loses nothing acknowledged. A record
 * damaged later (a flipped bit) costs that record only: replay resyncs on the next intact record and reports the
 * damage. Ids are validated as ids, never used as raw paths.
 */
import { constants as fsc, promises as fsp, existsSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import { crc32 } from './crc32.js';
import { deflate, inflateSync } from 'node:zlib';
import { promisify } from 'node:util';

/**
 * Journal segments are opened for appending with O_DSYNC where the platform has it (Linux, macOS): each write returns
 * once its data is on disk, as write + fdatasync did, in one trip through libuv's thread pool instead of two.
 */
const JOURNAL_DSYNC = typeof fsc.O_DSYNC === 'number' && fsc.O_DSYNC > 0;
const JOURNAL_FLAGS = JOURNAL_DSYNC ? fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_DSYNC : 'a';

const deflateAsync = promisify(deflate);

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const JOURNAL_MAGIC = 0x53434a32; // "SCJ2": payloads deflated, CRC over the stored bytes
const SNAP_MAGIC = 0x53435332; // "SCS2"

export function assertId(id: string, what: string): void {
  if (!ID_RE.test(id)) throw new Error(`${what} "${id}" is not a valid id`);
}

export interface LabelRecord {
  generation: number;
  /** Patch origin (spatial dims), all zeros for a full layer. */
  origin: number[];
  shape: number[];
  kind: 'annotation' | 'correction';
  /** Signed labels of the patch. */
  labels: Int32Array;
}

/**
 * The patch exactly as the client sent it, already deflated (labels.update with encoding "deflate"): stored as is,
 * so the journal costs no re-packing. offset = 1 for offset1 labels (value - 1 = signed).
 */
export interface WireLabels {
  dtype: 'uint8' | 'uint16' | 'int16' | 'int32';
  offset: 0 | 1;
  deflated: Uint8Array;
}

export interface LabelSnapshot {
  generation: number;
  shape: number[];
  labels: Int32Array;
  corrections: Uint8Array;
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  await syncDir(join(path, '..'));
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* some filesystems refuse fsync on directories; the rename is still atomic */
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Encode labels compactly: int16 when every value fits, else int32. */
function packLabels(labels: Int32Array): { dtype: 'int16' | 'int32'; bytes: Uint8Array } {
  let fits = true;
  for (let i = 0; i < labels.length; i++)
    if (labels[i] > 32767 || labels[i] < -32768) {
      fits = false;
      break;
    }
  if (!fits) return { dtype: 'int32', bytes: new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength) };
  const s = new Int16Array(labels.length);
  for (let i = 0; i < labels.length; i++) s[i] = labels[i];
  return { dtype: 'int16', bytes: new Uint8Array(s.buffer) };
}

/** Packed labels, deflated off the event loop (sparse labels shrink ~100x; the CRC then covers little). */
async function packDeflated(labels: Int32Array): Promise<{ dtype: 'int16' | 'int32'; bytes: Uint8Array }> {
  const p = packLabels(labels);
  return { dtype: p.dtype, bytes: new Uint8Array(await deflateAsync(p.bytes, { level: 1 })) };
}

const VIEWS = { uint8: Uint8Array, uint16: Uint16Array, int16: Int16Array, int32: Int32Array } as const;

function unpackLabels(dtype: string, stored: Uint8Array, n: number, offset = 0): Int32Array {
  const copy = new Uint8Array(inflateSync(stored)); // aligned copy
  const View = VIEWS[dtype as keyof typeof VIEWS];
  if (!View) throw new Error(`unknown label dtype ${dtype} in the journal`);
  const src = new View(copy.buffer, 0, n);
  if (src instanceof Int32Array && offset === 0) return src;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = src[i] - offset;
  return out;
}

/** An open journal segment: appends skip open/fstat/close (three libuv round trips per labels.update). */
interface OpenJournal {
  fh: fsp.FileHandle;
  size: number;
}

/** Journal segments kept open at once (one per image being annotated); the least recently used is closed. */
const MAX_OPEN_JOURNALS = 64;

/** A journal record that failed its checks (not a torn tail): the bytes skipped up to the next intact record. */
export interface JournalDamage {
  segment: number;
  offset: number;
  bytes: number;
  reason: string;
}

const MAGIC_BYTES = u32(JOURNAL_MAGIC);

type Parsed = { ok: true; record: LabelRecord; next: number } | { ok: false; reason: 'short' | 'magic' | 'crc' | 'content' };

/** One journal frame at offset o: magic, header length, header, payload length, payload, CRC. */
function parseRecord(b: Buffer, o: number): Parsed {
  if (b.length - o < 8) return { ok: false, reason: 'short' };
  if (b.readUInt32LE(o) !== JOURNAL_MAGIC) return { ok: false, reason: 'magic' };
  const hl = b.readUInt32LE(o + 4);
  if (o + 8 + hl + 4 > b.length) return { ok: false, reason: 'short' };
  const header = b.subarray(o + 8, o + 8 + hl);
  const pl = b.readUInt32LE(o + 8 + hl);
  const po = o + 12 + hl;
  if (po + pl + 4 > b.length) return { ok: false, reason: 'short' };
  const payload = b.subarray(po, po + pl);
  if (b.readUInt32LE(po + pl) !== crc32(header, payload)) return { ok: false, reason: 'crc' };
  try {
    const h = JSON.parse(header.toString()) as {
      generation: number;
      origin: number[];
      shape: number[];
      kind: 'annotation' | 'correction';
      dtype: string;
      offset?: number;
    };
    const n = h.shape.reduce((a, c) => a * c, 1);
    const record = { generation: h.generation, origin: h.origin, shape: h.shape, kind: h.kind, labels: unpackLabels(h.dtype, payload, n, h.offset ?? 0) };
    return { ok: true, record, next: po + pl + 4 };
  } catch {
    return { ok: false, reason: 'content' };
  }
}

export class Store {
  readonly sessionsDir: string;
  private readonly journals = new Map<string, Promise<OpenJournal>>();

  constructor(readonly home: string) {
    this.sessionsDir = join(home, 'sessions');
    mkdirSync(this.sessionsDir, { recursive: true });
  }

  private dir(sessionId: string, ...rest: string[]): string {
    assertId(sessionId, 'sessionId');
    return join(this.sessionsDir, sessionId, ...rest);
  }

  listSessionIds(): string[] {
    return readdirSync(this.sessionsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && ID_RE.test(d.name) && existsSync(join(this.sessionsDir, d.name, 'session.json')))
      .map((d) => d.name);
  }

  hasSession(sessionId: string): boolean {
    return ID_RE.test(sessionId) && existsSync(this.dir(sessionId, 'session.json'));
  }

  readSessionMeta<T>(sessionId: string): T {
    return JSON.parse(readFileSync(this.dir(sessionId, 'session.json'), 'utf8')) as T;
  }

  async writeSessionMeta(sessionId: string, meta: unknown): Promise<void> {
    await fsp.mkdir(this.dir(sessionId, 'images'), { recursive: true });
    await fsp.mkdir(this.dir(sessionId, 'labels'), { recursive: true });
    await writeAtomic(this.dir(sessionId, 'session.json'), JSON.stringify(meta, null, 1));
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.closeJournals((path) => path.startsWith(this.dir(sessionId) + sep));
    await fsp.rm(this.dir(sessionId), { recursive: true, force: true });
  }

  /**
   * Write an image's pixels, then its metadata file (images/<imageId>.json, the mark that the image exists). Each
   * image.add costs these two files only, however many images the session holds.
   */
  async writeImage(sessionId: string, imageId: string, bytes: Uint8Array, meta?: unknown): Promise<void> {
    assertId(imageId, 'imageId');
    await writeAtomic(this.dir(sessionId, 'images', `${imageId}.bin`), bytes);
    if (meta !== undefined) await writeAtomic(this.dir(sessionId, 'images', `${imageId}.json`), JSON.stringify(meta));
  }

  /** The per-image metadata files of a session; unreadable ones are reported, not thrown. */
  readImageMetas<T>(sessionId: string): { metas: T[]; damaged: string[] } {
    const dir = this.dir(sessionId, 'images');
    const metas: T[] = [],
      damaged: string[] = [];
    if (!existsSync(dir)) return { metas, damaged };
    for (const f of readdirSync(dir)) {
      const m = /^([A-Za-z0-9_-]{1,64})\.json$/.exec(f);
      if (!m) continue;
      try {
        metas.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as T);
      } catch (e) {
        damaged.push(`images/${f}: ${(e as Error).message}`);
      }
    }
    return { metas, damaged };
  }

  async readImage(sessionId: string, imageId: string): Promise<Uint8Array> {
    assertId(imageId, 'imageId');
    return new Uint8Array(await fsp.readFile(this.dir(sessionId, 'images', `${imageId}.bin`)));
  }

  /** Append one label record to the image's journal and fsync it. Resolves once durable. */
  async appendLabelRecord(
    sessionId: string,
    imageId: string,
    segment: number,
    rec: Omit<LabelRecord, 'labels'> & { labels?: Int32Array },
    wire?: WireLabels,
  ): Promise<number> {
    assertId(imageId, 'imageId');
    if (!wire && !rec.labels) throw new Error('appendLabelRecord: neither labels nor the wire payload');
    const packed = wire ? { dtype: wire.dtype, bytes: wire.deflated } : await packDeflated(rec.labels!);
    const header = Buffer.from(
      JSON.stringify({
        generation: rec.generation,
        origin: rec.origin,
        shape: rec.shape,
        kind: rec.kind,
        dtype: packed.dtype,
        ...(wire?.offset ? { offset: 1 } : {}),
      }),
    );
    const crc = crc32(header, packed.bytes);
    const frame = Buffer.concat([u32(JOURNAL_MAGIC), u32(header.length), header, u32(packed.bytes.length), packed.bytes, u32(crc)]);
    const path = this.dir(sessionId, 'labels', `${imageId}.${segment}.jnl`);
    const j = await this.journal(path, this.dir(sessionId, 'labels', `${imageId}.`));
    try {
      await j.fh.write(frame);
      if (!JOURNAL_DSYNC) await j.fh.datasync();
    } catch (e) {
      await this.closeJournals((p) => p === path);
      throw e;
    }
    j.size += frame.length;
    return j.size;
  }

  /** The open append handle of a journal segment; opening one closes the image's other segments. */
  private journal(path: string, imagePrefix: string): Promise<OpenJournal> {
    const j = this.journals.get(path);
    if (j) {
      this.journals.delete(path); // re-insert: Map order = least recently used first
      this.journals.set(path, j);
      return j;
    }
    void this.closeJournals((p) => p.startsWith(imagePrefix));
    if (this.journals.size >= MAX_OPEN_JOURNALS) {
      const oldest = this.journals.keys().next().value as string;
      void this.closeJournals((p) => p === oldest);
    }
    const opened = fsp.open(path, JOURNAL_FLAGS).then(async (fh) => ({ fh, size: (await fh.stat()).size }));
    opened.catch(() => {
      if (this.journals.get(path) === opened) this.journals.delete(path);
    });
    this.journals.set(path, opened);
    return opened;
  }

  /** Close open journal segments whose path matches (all of them without a predicate: shutdown). */
  async closeJournals(match: (path: string) => boolean = () => true): Promise<void> {
    const closing: Promise<unknown>[] = [];
    for (const [path, j] of this.journals) {
      if (!match(path)) continue;
      this.journals.delete(path);
      closing.push(
        j.then(
          (o) => o.fh.close(),
          () => undefined,
        ),
      );
    }
    await Promise.all(closing);
  }

  /** Write a snapshot atomically (journal records it covers are skipped on replay). */
  async writeLabelSnapshot(sessionId: string, imageId: string, snap: LabelSnapshot): Promise<void> {
    assertId(imageId, 'imageId');
    const packed = await packDeflated(snap.labels);
    const header = Buffer.from(JSON.stringify({ generation: snap.generation, shape: snap.shape, dtype: packed.dtype }));
    const crc = crc32(header, packed.bytes, snap.corrections);
    const data = Buffer.concat([
      u32(SNAP_MAGIC),
      u32(header.length),
      header,
      u32(packed.bytes.length),
      packed.bytes,
      u32(snap.corrections.length),
      snap.corrections,
      u32(crc),
    ]);
    await writeAtomic(this.dir(sessionId, 'labels', `${imageId}.snap`), data);
  }

  /** Journal segment numbers of an image, ascending. */
  journalSegments(sessionId: string, imageId: string): number[] {
    assertId(imageId, 'imageId');
    const dir = this.dir(sessionId, 'labels');
    if (!existsSync(dir)) return [];
    const re = new RegExp(`^${imageId}\\.(\\d+)\\.jnl$`);
    return readdirSync(dir)
      .map((f) => re.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /** Delete journal segments numbered below `segment` (after a snapshot covering them is durable). */
  async deleteJournalSegmentsBelow(sessionId: string, imageId: string, segment: number): Promise<void> {
    for (const s of this.journalSegments(sessionId, imageId)) {
      if (s < segment) await this.closeJournals((p) => p === this.dir(sessionId, 'labels', `${imageId}.${s}.jnl`));
      if (s < segment) await fsp.rm(this.dir(sessionId, 'labels', `${imageId}.${s}.jnl`), { force: true });
    }
  }

  /** Read the snapshot (if any) and every intact journal record after it. */
  readLabels(
    sessionId: string,
    imageId: string,
  ): { snapshot?: LabelSnapshot; records: LabelRecord[]; tornBytes: number; damaged: JournalDamage[]; lastSegment: number } {
    assertId(imageId, 'imageId');
    let snapshot: LabelSnapshot | undefined;
    const snapPath = this.dir(sessionId, 'labels', `${imageId}.snap`);
    if (existsSync(snapPath)) {
      const b = readFileSync(snapPath);
      let o = 0;
      if (b.readUInt32LE(o) !== SNAP_MAGIC) throw new Error(`corrupt label snapshot ${imageId}`);
      o += 4;
      const hl = b.readUInt32LE(o);
      o += 4;
      const header = b.subarray(o, o + hl);
      o += hl;
      const h = JSON.parse(header.toString()) as { generation: number; shape: number[]; dtype: string };
      const pl = b.readUInt32LE(o);
      o += 4;
      const payload = b.subarray(o, o + pl);
      o += pl;
      const cl = b.readUInt32LE(o);
      o += 4;
      const corr = b.subarray(o, o + cl);
      o += cl;
      if (b.readUInt32LE(o) !== crc32(header, payload, corr)) throw new Error(`label snapshot ${imageId} fails its checksum`);
      const n = h.shape.reduce((a, c) => a * c, 1);
      snapshot = { generation: h.generation, shape: h.shape, labels: unpackLabels(h.dtype, payload, n), corrections: new Uint8Array(corr) };
    }
    const records: LabelRecord[] = [];
    const damaged: JournalDamage[] = [];
    let tornBytes = 0;
    const segments = this.journalSegments(sessionId, imageId);
    for (const seg of segments) {
      const b = readFileSync(this.dir(sessionId, 'labels', `${imageId}.${seg}.jnl`));
      let o = 0;
      while (o < b.length) {
        const r = parseRecord(b, o);
        if (r.ok) {
          if (!snapshot || r.record.generation > snapshot.generation) records.push(r.record);
          o = r.next;
          continue;
        }
        // Resync on the next intact record: a damaged record costs that record only.
        let resume = -1;
        for (let p = b.indexOf(MAGIC_BYTES, o + 1); p >= 0; p = b.indexOf(MAGIC_BYTES, p + 1)) {
          if (parseRecord(b, p).ok) {
            resume = p;
            break;
          }
        }
        const end = resume < 0 ? b.length : resume;
        // Only the unfinished last append of a crash (a frame cut short, or zeros) is a torn tail: never acknowledged.
        if (resume < 0 && (r.reason === 'short' || b.subarray(o).every((x) => x === 0))) tornBytes += end - o;
        else damaged.push({ segment: seg, offset: o, bytes: end - o, reason: r.reason });
        if (resume < 0) break;
        o = resume;
      }
    }
    records.sort((a, b) => a.generation - b.generation);
    return { snapshot, records, tornBytes, damaged, lastSegment: segments.length ? segments[segments.length - 1] : 0 };
  }

  async writeCheckpoint(sessionId: string, bytes: Uint8Array): Promise<void> {
    await fsp.mkdir(this.dir(sessionId, 'model'), { recursive: true });
    await writeAtomic(this.dir(sessionId, 'model', 'checkpoint.bin'), bytes);
  }

  readCheckpoint(sessionId: string): Uint8Array | undefined {
    const p = this.dir(sessionId, 'model', 'checkpoint.bin');
    return existsSync(p) ? new Uint8Array(readFileSync(p)) : undefined;
  }
}
