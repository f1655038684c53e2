/**
 * One image's sparse label layer in memory: signed labels, correction flags, and pixel statistics kept
 * incrementally so a patch update costs O(patch), not O(image).
 */
import type { Counts } from '../../protocol/src/types.js';

/** Label values as decoded from the wire (signed = value - offset). */
export type LabelValues = Int32Array | Int16Array | Uint16Array | Uint8Array;

export class LabelLayer {
  readonly labels: Int32Array;
  /** 1 where the pixel was last written by a "correction" update (and is labeled). */
  readonly corrections: Uint8Array;
  private readonly hist = new Map<number, number>();
  private unlabeled: number;
  private background = 0;
  /** Bounding box [y0, x0, y1, x1] (plane coordinates) and time of the latest edit, for live sampling. */
  lastEdit?: { region: [number, number, number, number]; z: number; at: number };

  /** shape = spatial shape: [H, W] or [Z, H, W]. */
  constructor(
    readonly shape: number[],
    labels?: Int32Array,
    corrections?: Uint8Array,
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    this.labels = labels ?? new Int32Array(n).fill(-1);
    this.corrections = corrections ?? new Uint8Array(n);
    this.unlabeled = labels ? 0 : n;
    if (labels) for (let i = 0; i < n; i++) this.count(labels[i], 1);
  }

  private count(v: number, d: number): void {
    if (v < 0) this.unlabeled += d;
    else if (v === 0) this.background += d;
    else {
      const c = (this.hist.get(v) ?? 0) + d;
      if (c === 0) this.hist.delete(v);
      else this.hist.set(v, c);
    }
  }

  counts(): Counts {
    return { unlabeled: this.unlabeled, background: this.background, objects: this.hist.size };
  }

  /**
   * Write a patch at origin (full layer: origin all zeros, shape = layer shape); the signed label of element k
   * is patch[k] - offset (offset1 wire values are applied without a converted copy).
   */
  apply(origin: number[], shape: number[], patch: LabelValues, kind: 'annotation' | 'correction', offset = 0): void {
    const nd = this.shape.length;
    const [Z, H, W] = nd === 3 ? this.shape : [1, this.shape[0], this.shape[1]];
    const [oz, oy, ox] = nd === 3 ? origin : [0, origin[0], origin[1]];
    const [dz, dy, dx] = nd === 3 ? shape : [1, shape[0], shape[1]];
    const flag = kind === 'correction' ? 1 : 0;
    const labels = this.labels,
      corrections = this.corrections;
    // Unlabeled and background changes are tallied locally; only instance ids touch the histogram.
    let dUnlabeled = 0,
      dBackground = 0;
    let k = 0;
    for (let z = 0; z < dz; z++)
      for (let y = 0; y < dy; y++) {
        let i = ((oz + z) * H + oy + y) * W + ox;
        if (flag === 0) {
          // An annotation clears the correction flags of its whole row; a row that changes no label (most of a
          // painted patch) is then one compare pass and a fill.
          corrections.fill(0, i, i + dx);
          let x = 0;
          while (x < dx && patch[k + x] - offset === labels[i + x]) x++;
          if (x === dx) {
            i += dx;
            k += dx;
            continue;
          }
        }
        for (let x = 0; x < dx; x++, i++, k++) {
          const v = patch[k] - offset;
          const old = labels[i];
          if (old !== v) {
            if (old < 0) dUnlabeled--;
            else if (old === 0) dBackground--;
            else this.count(old, -1);
            if (v < 0) dUnlabeled++;
            else if (v === 0) dBackground++;
            else this.count(v, 1);
            labels[i] = v;
          }
          corrections[i] = v >= 0 ? flag : 0;
        }
      }
    this.unlabeled += dUnlabeled;
    this.background += dBackground;
    void Z;
    this.lastEdit = { region: [oy, ox, oy + dy, ox + dx], z: oz, at: Date.now() };
  }

  /** Signed labels of one plane (a view for 2-D layers). */
  plane(z = 0): Int32Array {
    const hw = this.shape[this.shape.length - 1] * this.shape[this.shape.length - 2];
    return this.shape.length === 3 ? this.labels.subarray(z * hw, (z + 1) * hw) : this.labels;
  }
}
