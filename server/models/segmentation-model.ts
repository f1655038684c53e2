/**
 * A trainable segmentation model: family + family config + U-Net weights + normalisation settings.
 * Owner: the SegmentationModel owns its U-Net variables; call disposeModel() when done.
 *
 * Archive (serializeModel): the U-Net weights archive of unet.ts with spec =
 *   { format: 'sparsecell-model', modelVersion, family, familyConfig, unet, normalization, version, meta }.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FamilyConfigBase, FamilyName, ModelFamily } from './model-family.js';
import { getFamily } from './registry.js';
import { createUNet, decodeArchive, disposeUNet, encodeArchive, getUNetWeights, setUNetWeights, unetForward, unetParamShapes, type UNet } from './unet/unet.js';
import { makeUNetConfig, type UNetConfig } from './unet/config.js';
import { parseNormalization, type NormalizationSettings } from '../imaging/normalize.js';

/** Bumped when the archive layout or the network definition changes incompatibly. */
export const MODEL_FORMAT_VERSION = 1;

export interface SegmentationModel<C extends FamilyConfigBase = FamilyConfigBase> {
  family: ModelFamily<C>;
  config: C;
  unet: UNet;
  normalization: NormalizationSettings;
  /** Number of completed training runs / checkpoints (bumped by the caller after training). */
  version: number;
  /** Free-form JSON metadata kept in the archive (e.g. training history). */
  meta: Record<string, unknown>;
}

/** What a family's output activation needs from its config (the ONNX export and the TensorFlow graph write it out). */
export interface ActivationSpec {
  family: FamilyName;
  /** StarDist: number of rays. */
  nRays?: number;
  /** Cellpose: the factor the raw flows carry. */
  flowScale?: number;
}

export function activationSpec(m: Pick<SegmentationModel, 'family' | 'config'>): ActivationSpec {
  const c = m.config as unknown as { nRays?: number; flowScale?: number };
  return { family: m.family.name, nRays: c.nRays, flowScale: c.flowScale };
}

export interface CreateModelOptions {
  normalization?: Partial<NormalizationSettings>;
  /** He-initialisation seed. */
  seed?: number;
}

export interface ModelSpec {
  format: 'sparsecell-model';
  modelVersion: number;
  family: FamilyName;
  familyConfig: unknown;
  unet: UNetConfig;
  normalization: NormalizationSettings;
  version: number;
  meta: Record<string, unknown>;
}

/** New untrained model; `partialConfig` is validated by the family's parseConfig. */
export function createModel<C extends FamilyConfigBase = FamilyConfigBase>(
  familyName: string,
  partialConfig: unknown = {},
  opts: CreateModelOptions = {},
): SegmentationModel<C> {
  const family = getFamily<C>(familyName);
  const config = family.parseConfig(partialConfig);
  const unet = createUNet({
    inputChannels: config.inputChannels,
    outputChannels: family.outputChannels(config),
    depth: config.unetDepth,
    filters: config.unetFilters,
    seed: opts.seed,
    grid: family.grid?.(config) ?? 1,
  });
  return { family, config, unet, normalization: parseNormalization(opts.normalization), version: 0, meta: {} };
}

/** Raw network output for a normalised batch (caller owns the result). */
export function modelForward(model: SegmentationModel, x: tf.Tensor4D): tf.Tensor4D {
  return unetForward(model.unet, x);
}

export function serializeModel(model: SegmentationModel): Uint8Array {
  const spec: ModelSpec = {
    format: 'sparsecell-model',
    modelVersion: MODEL_FORMAT_VERSION,
    family: model.family.name,
    familyConfig: model.config,
    unet: model.unet.config,
    normalization: model.normalization,
    version: model.version,
    meta: model.meta,
  };
  return encodeArchive(spec, getUNetWeights(model.unet));
}

/** Spec only (cheap: no tensors are created). */
export function readModelSpec(bytes: Uint8Array): ModelSpec {
  const { spec } = decodeArchive<ModelSpec>(bytes);
  checkSpec(spec);
  return spec;
}

function checkSpec(spec: ModelSpec): void {
  if (!spec || spec.format !== 'sparsecell-model') throw new Error('model archive: not a sparsecell model');
  if (spec.modelVersion !== MODEL_FORMAT_VERSION)
    throw new Error(`model archive: format version ${spec.modelVersion} is not supported (this server reads ${MODEL_FORMAT_VERSION})`);
}

export function deserializeModel<C extends FamilyConfigBase = FamilyConfigBase>(bytes: Uint8Array): SegmentationModel<C> {
  const { spec, tensors } = decodeArchive<ModelSpec>(bytes);
  checkSpec(spec);
  const family = getFamily<C>(spec.family);
  const config = family.parseConfig(spec.familyConfig);
  // Every weight must be in the archive with the shape the U-Net config implies, checked before any variable is
  // allocated: a crafted config (huge filter counts) cannot allocate more than the archive itself holds.
  const unetConfig = makeUNetConfig(spec.unet);
  if (unetConfig.inputChannels !== config.inputChannels || unetConfig.outputChannels !== family.outputChannels(config)) {
    throw new Error(
      `model archive: U-Net has ${unetConfig.inputChannels} -> ${unetConfig.outputChannels} channels; the ${spec.family} config needs ${config.inputChannels} -> ${family.outputChannels(config)}`,
    );
  }
  // Archives from before grids existed have neither field: grid 1 on both sides.
  const grid = family.grid?.(config) ?? 1;
  if (unetConfig.grid !== grid) throw new Error(`model archive: U-Net grid ${unetConfig.grid} differs from the ${spec.family} config's grid ${grid}`);
  const byName = new Map(tensors.map((t) => [t.name, t.shape]));
  for (const { name, shape } of unetParamShapes(unetConfig)) {
    const got = byName.get(name);
    if (!got) throw new Error(`model archive: weights: missing tensor ${name}`);
    if (got.length !== shape.length || got.some((d, k) => d !== shape[k]))
      throw new Error(`model archive: weights: ${name} has shape [${got}], expected [${shape}]`);
  }
  const unet = createUNet(unetConfig);
  try {
    setUNetWeights(unet, tensors);
  } catch (e) {
    disposeUNet(unet);
    throw e;
  }
  return { family, config, unet, normalization: parseNormalization(spec.normalization), version: spec.version, meta: spec.meta ?? {} };
}

/**
 * Post-processing thresholds stored in the archive's meta (chosen on validation images by `npm run pretrain` /
 * `bench quality --save-model`): the defaults of model.predict and `sparsecell predict` for this model. Fields that
 * are absent or not in [0, 1] fall back to the family's defaults.
 */
export function storedThresholds(model: SegmentationModel): { probThresh?: number; nmsThresh?: number } {
  const t = model.meta.thresholds as { probThresh?: unknown; nmsThresh?: unknown } | undefined;
  const ok = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;
  return { ...(ok(t?.probThresh) ? { probThresh: t.probThresh } : {}), ...(ok(t?.nmsThresh) ? { nmsThresh: t.nmsThresh } : {}) };
}

/** Run by disposeModel before the weights go (training/graph-predict.ts closes the model's graph session). */
export const disposeHooks: Array<(model: SegmentationModel) => void> = [];

export function disposeModel(model: SegmentationModel): void {
  for (const hook of disposeHooks) hook(model);
  disposeUNet(model.unet);
}
