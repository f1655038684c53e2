/**
 * A session: images, their sparse label layers (with a session-wide generation counter), the model family
 * and config, and the jobs that run on it. All label mutations go through one promise chain per session so the
 * journal order equals the generation order. Disk I/O goes through storage/ only.
 */
import { EventEmitter } from 'node:events';
import { RpcError } from '../errors.js';
import type { Axes, Counts, Dtype, FamilyName, ImageInfo, JobInfo, SessionInfo } from '../../protocol/src/types.js';
import { DTYPE_BYTES, makeTyped, type TypedArray } from '../../protocol/src/ndarray.js';
import type { Store, WireLabels } from '../storage/store.js';
import { LabelLayer, type LabelValues } from './label-layer.js';

export interface ImageMeta {
  imageId: string;
  name?: string;
  shape: number[];
  axes: Axes;
  dtype: Dtype;
}

export interface SessionMeta {
  sessionId: string;
  name: string;
  family: FamilyName;
  config: Record<string, unknown>;
  createdAt: string;
  autoBackground?: boolean;
  images: ImageMeta[];
  nextImage: number;
  modelVersion?: number;
  trainedGeneration?: number;
  trainOptions?: Record<string, unknown>;
  /** Name of the starter model the session model began from (models/ registry); its checkpoint, once written, wins. */
  starter?: string;
  /** The input adaptation chosen for a starter-based model from its labels (training/adapt.ts); kept in the checkpoint too. */
  adaptation?: { scale: number; invert: boolean };
  /** The training job running now (cleared when it ends): found on load, it was interrupted by a crash. */
  activeJob?: ActiveJob;
}

export interface ActiveJob {
  jobId: string;
  /** Total steps (0 for live jobs and jobs limited by time only). */
  steps: number;
  timeLimitS?: number;
  live: boolean;
  /** Steps done when the last checkpoint was written. */
  step: number;
}

interface ImageState {
  meta: ImageMeta;
  layer: LabelLayer;
  generation: number;
  pixels?: TypedArray;
  segment: number;
  segmentBytes: number;
}

/** Journal bytes after which an image's labels are compacted into a snapshot. */
const COMPACT_BYTES = 64 * 1024 * 1024;

export function spatialShape(shape: number[], axes: Axes): number[] {
  return axes === 'YXC' ? shape.slice(0, 2) : [...shape];
}

export class Session extends EventEmitter {
  readonly images = new Map<string, ImageState>();
  generation = 0;
  state: 'open' | 'closed' = 'open';
  private chain: Promise<unknown> = Promise.resolve();
  /** Jobs of this session, newest last (managed by the job service). */
  jobs: JobInfo[] = [];
  /** The view the person looks at (live mode). */
  view?: { imageId: string; region: [number, number, number, number]; z: number };
  /** Damage found when the session was loaded (e.g. a label journal record that failed its checksum). */
  readonly warnings: Array<{ imageId?: string; message: string }> = [];
  /** Interrupted jobs not yet announced with job.finished {state: interrupted}. */
  private interruptedNotices: string[] = [];
  /** Images listed in session.json by older stores; newer images each have their own images/<id>.json. */
  private readonly legacyImages: ImageMeta[];

  constructor(
    readonly meta: SessionMeta,
    private readonly store: Store,
  ) {
    super();
    this.legacyImages = meta.images;
  }

  get id(): string {
    return this.meta.sessionId;
  }

  /** Load the image list and the label layers of every image from disk (snapshot + journal replay). */
  load(): void {
    const a = this.meta.activeJob;
    if (a) {
      // Loaded by a fresh daemon while the file says a job runs: the daemon that ran it died.
      this.jobs.push({
        jobId: a.jobId,
        kind: 'train',
        state: 'interrupted',
        live: a.live,
        step: a.step,
        steps: a.steps,
        error: `the daemon stopped while this job ran; model.train {resume: true} continues it from step ${a.step} (the last checkpoint)`,
      });
      this.interruptedNotices.push(a.jobId);
    }
    const { metas, damaged } = this.store.readImageMetas<ImageMeta>(this.id);
    for (const d of damaged) this.warnings.push({ message: `image metadata cannot be read, the image is left out: ${d}` });
    const byId = new Map([...this.legacyImages, ...metas].map((m) => [m.imageId, m]));
    const num = (id: string) => Number(/\d+$/.exec(id)?.[0] ?? 0);
    this.meta.images = [...byId.values()].sort((a, b) => num(a.imageId) - num(b.imageId));
    this.meta.nextImage = Math.max(this.meta.nextImage ?? 1, ...this.meta.images.map((m) => num(m.imageId) + 1));
    for (const im of this.meta.images) {
      const spatial = spatialShape(im.shape, im.axes);
      const { snapshot, records, lastSegment, damaged: bad } = this.store.readLabels(this.id, im.imageId);
      for (const d of bad) {
        this.warnings.push({
          imageId: im.imageId,
          message: `label journal segment ${d.segment} of ${im.imageId} has a damaged record at byte ${d.offset} (${d.reason}; ${d.bytes} bytes skipped): the label update it held is lost, later updates are kept`,
        });
      }
      const layer = new LabelLayer(spatial, snapshot?.labels, snapshot?.corrections);
      let gen = snapshot?.generation ?? 0;
      for (const r of records) {
        layer.apply(r.origin, r.shape, r.labels, r.kind);
        gen = r.generation;
      }
      layer.lastEdit = undefined;
      this.images.set(im.imageId, { meta: im, layer, generation: gen, segment: lastSegment + 1, segmentBytes: 0 });
      this.generation = Math.max(this.generation, gen);
    }
  }

  /** Run fn after every earlier mutation of this session (serialises label updates and metadata writes). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  image(imageId: string): ImageState {
    const im = this.images.get(imageId);
    if (!im) throw new RpcError('ImageNotFound', `no image "${imageId}" in session ${this.id}`, [{ path: '/imageId', message: 'unknown image' }]);
    return im;
  }

  async pixels(imageId: string): Promise<TypedArray> {
    const im = this.image(imageId);
    if (!im.pixels) {
      const bytes = await this.store.readImage(this.id, imageId);
      im.pixels = makeTyped(im.meta.dtype, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.length / DTYPE_BYTES[im.meta.dtype]);
    }
    return im.pixels;
  }

  /** Interrupted job ids to announce once (to the first connection that reopens the session). */
  takeInterruptedNotices(): string[] {
    const out = this.interruptedNotices;
    this.interruptedNotices = [];
    return out;
  }

  /** ResourceLimit when the session already holds maxImages images. */
  assertRoomForImage(maxImages: number): void {
    if (this.meta.images.length >= maxImages) {
      throw new RpcError(
        'ResourceLimit',
        `session ${this.id} already holds ${this.meta.images.length} images (maxImagesPerSession = ${maxImages}); start another session`,
        [{ path: '/sessionId', message: 'too many images' }],
      );
    }
  }

  async addImage(data: TypedArray, shape: number[], axes: Axes, dtype: Dtype, name: string | undefined, maxImages: number): Promise<ImageMeta> {
    return this.serial(async () => {
      this.assertRoomForImage(maxImages);
      const imageId = `img${this.meta.nextImage}`;
      const meta: ImageMeta = { imageId, shape, axes, dtype, ...(name ? { name } : {}) };
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length * DTYPE_BYTES[dtype]);
      // Pixels and this image's metadata file only: session.json is not rewritten (O(1) per image).
      await this.store.writeImage(this.id, imageId, bytes, meta);
      this.meta.images = [...this.meta.images, meta];
      this.meta.nextImage++;
      this.images.set(imageId, { meta, layer: new LabelLayer(spatialShape(shape, axes)), generation: 0, pixels: data, segment: 1, segmentBytes: 0 });
      return meta;
    });
  }

  /**
   * Apply a signed label patch (origin = zeros and shape = spatial shape for a full layer). Resolves once the
   * update is durable; the generation it returns is then never lost.
   */
  async updateLabels(
    imageId: string,
    origin: number[],
    shape: number[],
    patch: { values: LabelValues; offset: number },
    kind: 'annotation' | 'correction',
    wire?: WireLabels,
  ): Promise<{ generation: number; counts: Counts }> {
    const im = this.image(imageId);
    // Without the wire payload the journal stores signed int32.
    const signed = wire
      ? undefined
      : patch.values instanceof Int32Array && patch.offset === 0
        ? patch.values
        : Int32Array.from(patch.values, (v) => v - patch.offset);
    return this.serial(async () => {
      const generation = this.generation + 1;
      im.segmentBytes = await this.store.appendLabelRecord(this.id, imageId, im.segment, { generation, origin, shape, kind, labels: signed }, wire);
      this.generation = generation;
      im.generation = generation;
      im.layer.apply(origin, shape, patch.values, kind, patch.offset);
      const counts = im.layer.counts();
      this.emit('labels', { imageId, generation, origin, shape });
      if (im.segmentBytes > COMPACT_BYTES) this.compact(im);
      return { generation, counts };
    });
  }

  /** Snapshot an image's labels: appends move to a new segment at once; old segments go once the snapshot is durable. */
  private compact(im: ImageState): void {
    const snap = { generation: im.generation, shape: im.layer.shape, labels: im.layer.labels.slice(), corrections: im.layer.corrections.slice() };
    const covered = im.segment + 1;
    im.segment = covered;
    im.segmentBytes = 0;
    void this.store
      .writeLabelSnapshot(this.id, im.meta.imageId, snap)
      .then(() => this.store.deleteJournalSegmentsBelow(this.id, im.meta.imageId, covered))
      .catch((e: unknown) => this.emit('error-log', e));
  }

  async updateMeta(patch: Partial<SessionMeta>): Promise<void> {
    return this.serial(async () => {
      const next = { ...this.meta, ...patch };
      await this.store.writeSessionMeta(this.id, { ...next, images: this.legacyImages });
      Object.assign(this.meta, next);
    });
  }

  imageInfo(im: ImageState): ImageInfo {
    return {
      imageId: im.meta.imageId,
      ...(im.meta.name ? { name: im.meta.name } : {}),
      shape: im.meta.shape,
      axes: im.meta.axes,
      dtype: im.meta.dtype,
      generation: im.generation,
      counts: im.layer.counts(),
    };
  }

  info(): SessionInfo {
    return {
      sessionId: this.id,
      name: this.meta.name,
      family: this.meta.family,
      config: this.meta.config,
      createdAt: this.meta.createdAt,
      generation: this.generation,
      state: this.state,
      images: [...this.images.values()].map((im) => this.imageInfo(im)),
      ...(this.meta.modelVersion !== undefined ? { modelVersion: this.meta.modelVersion } : {}),
      ...(this.meta.trainedGeneration !== undefined ? { trainedGeneration: this.meta.trainedGeneration } : {}),
      jobs: this.jobs.map((j) => ({ ...j })),
      ...(this.meta.autoBackground !== undefined ? { autoBackground: this.meta.autoBackground } : {}),
      ...(this.warnings.length ? { warnings: this.warnings.map((w) => ({ ...w })) } : {}),
      ...(this.meta.starter !== undefined ? { starter: this.meta.starter } : {}),
      ...(this.meta.adaptation !== undefined ? { adaptation: this.meta.adaptation } : {}),
    };
  }

  /** Wait for pending writes (shutdown). */
  async flush(): Promise<void> {
    await this.serial(async () => undefined);
  }
}
