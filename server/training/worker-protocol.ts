/**
 * Messages between the main thread (service.ts) and a compute worker (worker.ts). Typed arrays travel by
 * transfer. Every task carries a shared cancel flag (Int32Array over a SharedArrayBuffer): the main thread sets
 * it, the worker checks it between training steps and prediction tiles, so AbortSignals reach the worker.
 */
import type { Axes, Dtype, FamilyName, NdArray } from '../../protocol/src/types.js';
import type { TypedArray } from '../../protocol/src/ndarray.js';
import type { Image2D, Labels2D } from '../imaging/types.js';
import type { ExportMetadata } from '../bioimageio/package.js';
import type { RankedSuggestion, SuggestReason } from '../imaging/suggest.js';

export interface WorkerImage {
  imageId: string;
  pixels: TypedArray;
  shape: number[];
  axes: Axes;
  dtype: Dtype;
  labels: Int32Array;
  corrections: Uint8Array;
}

export interface LiveTrainOptions {
  batchSize?: number;
  patchSize?: number;
  learningRate?: number;
  seed?: number;
  augment?: boolean;
  pushEverySteps?: number;
  pushEveryS?: number;
  suggestEveryS?: number;
  /** Fine-tuning a starter (RECIPE.finetune): warm-up and encoder freeze, counted in steps of the job. */
  warmupSteps?: number;
  freezeEncoderSteps?: number;
}

export type WorkerRequest =
  | { op: 'init'; backend: string; threads?: { intra: number; inter: number }; nice?: number }
  | { op: 'load'; sessionId: string; family: FamilyName; config: Record<string, unknown>; archive?: Uint8Array; images: WorkerImage[]; autoBackground: boolean }
  | { op: 'reset'; sessionId: string; family: FamilyName; config: Record<string, unknown> }
  | { op: 'addImage'; sessionId: string; image: WorkerImage }
  | { op: 'labels'; sessionId: string; imageId: string; origin: number[]; shape: number[]; patch: Int32Array; corrections: Uint8Array }
  | {
      op: 'train';
      sessionId: string;
      steps: number;
      maxMs: number;
      options: LiveTrainOptions;
      jobStep?: number;
      /** The model began from a starter: choose its input adaptation from the labels first if it has none (training/adapt.ts). */
      adapt?: boolean;
      focus?: { imageId: string; z: number; region: [number, number, number, number] };
    }
  | {
      op: 'predict';
      sessionId: string;
      imageId: string;
      z: number;
      region: [number, number, number, number];
      probThresh?: number;
      nmsThresh?: number;
      context?: number;
      maxObjects: number;
    }
  | {
      op: 'suggest';
      sessionId: string;
      imageId: string;
      z: number;
      region: [number, number, number, number];
      count: number;
      /** Context (px) around the region; default the U-Net's. */
      context?: number;
      probThresh?: number;
      nmsThresh?: number;
      tta?: number;
      reasons?: SuggestReason[];
    }
  | { op: 'export'; sessionId: string; modelVersion: number }
  | { op: 'import'; sessionId: string; archive: Uint8Array; format?: 'sparsecell' | 'bioimageio'; maxBytes?: number }
  /** A bioimage.io package of the session's model, its test tensor cut from `image` (raw, one plane). */
  | { op: 'bioimageio'; sessionId: string; image: Image2D; labels: Labels2D; meta: ExportMetadata }
  | { op: 'unload'; sessionId: string }
  | { op: 'memory' }
  /** Test hook: exit the worker thread as a crash would. */
  | { op: 'crash' };

export interface WorkerTask {
  id: number;
  cancel: Int32Array;
  req: WorkerRequest;
}

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string; code?: string }
  | { id: number; progress: { step?: number; steps?: number; loss?: number; tile?: number; tiles?: number } };

export interface TrainSliceResult {
  steps: number;
  loss: number;
  cancelled: boolean;
  /** False when there is nothing labeled to train on. */
  hasData: boolean;
  /** The input adaptation chosen before this slice's steps (training/adapt.ts). */
  adapted?: { scale: number; invert: boolean; objects: number; ms: number };
}

export interface PredictResult {
  /** The label image of the region, encoded for the wire (int32, deflate) by the worker. */
  labels: NdArray;
  polygons: Array<{ id: number; score: number; points: Array<[number, number]> }>;
  /** More objects were found than maxObjects; the best-scoring maxObjects are returned. */
  truncated: boolean;
}

export interface SuggestResult {
  suggestions: RankedSuggestion[];
}
