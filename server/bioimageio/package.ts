/**
 * bioimage.io model packages (model spec 0.5) of sparsecell models, and their import.
 *
 * A package is a zip with rdf.yaml, weights.onnx (unet-onnx.ts), test tensors as .npy (input: the raw test crop;
 * output: the network's activated output on it), the same as sample tensors in float32 TIFF (the spec requires an
 * imageio-readable image there), cover.png (the test crop and the same crop with
 * the predicted outlines, side by side), README.md and the sparsecell configuration in rdf `config.sparsecell`
 * (plus `config.stardist` for StarDist-like models). Preprocessing in the rdf is the model's own percentile
 * normalisation (imaging/normalize.ts) as `scale_range` per sample and channel, so a consumer feeds raw images.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { Image2D, Labels2D } from '../imaging/types.js';
import { normalizeImage, parseNormalization, type NormalizationSettings } from '../imaging/normalize.js';
import { extractWindow } from '../imaging/tiling.js';
import { objectsBox } from '../imaging/labels.js';
import { encodeTiff } from '../imaging/tiff.js';
import { encodeRgbPng } from './png.js';
import type { FamilyName } from '../models/model-family.js';
import { getFamily } from '../models/registry.js';
import { activationSpec, type SegmentationModel } from '../models/segmentation-model.js';
import { createUNet, disposeUNet, getUNetWeights, setUNetWeights, unetForward } from '../models/unet/unet.js';
import { makeUNetConfig, unetDivisor, type UNetConfig } from '../models/unet/config.js';
import { ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, onnxToUNetWeights, unetToOnnx } from './unet-onnx.js';
import { readNpy, writeNpy } from './npy.js';
import { readZip, writeZip } from './zip.js';

/** The rdf's format_version (model spec 0.5). */
export const RDF_FORMAT_VERSION = '0.5.4';
/** Version of the `config.sparsecell` block. */
export const PACKAGE_CONFIG_VERSION = 1;
/** Largest side of the test crop. */
export const TEST_CROP_MAX = 256;

/** How the model was trained (README and config.sparsecell.training). */
export interface TrainingSummary {
  images: number;
  /** Label counts (unknown for models trained before they were recorded). */
  objects?: number;
  backgroundPixels?: number;
  labeledPixels: number;
  totalPixels?: number;
  steps: number;
  backend: string;
  date: string;
}

export interface ExportMetadata {
  name?: string;
  description?: string;
  authors?: string[];
  license?: string;
  training: TrainingSummary;
  sparsecellVersion: string;
}

/** config.sparsecell as written to (and read from) rdf.yaml. */
export interface SparsecellPackageConfig {
  version: number;
  family: FamilyName;
  familyConfig: Record<string, unknown>;
  unet: UNetConfig;
  normalization: NormalizationSettings;
  /** Images are resampled by this factor before the network (Cellpose-like `diameter`, a starter's adaptation); 1 = none. */
  scale: number;
  /** A starter's input adaptation chosen from sparse labels (training/adapt.ts): meta.adapt of the model. */
  adapt?: { scale: number; invert: boolean };
  postprocessing: Record<string, unknown>;
  modelVersion: number;
  training: TrainingSummary;
}

export { activationSpec };

const FAMILY_TEXT: Record<
  FamilyName,
  { title: string; cite: { text: string; doi: string }; channels: (c: Record<string, unknown>) => string[]; post: string[]; tag: string }
> = {
  stardist: {
    title: 'StarDist-like',
    cite: { text: 'Schmidt U, Weigert M, Broaddus C, Myers G. Cell Detection with Star-Convex Polygons. MICCAI 2018.', doi: '10.1007/978-3-030-00934-2_30' },
    channels: (c) => ['prob', ...Array.from({ length: c.nRays as number }, (_, r) => `dist${r}`)],
    post: ['nRays', 'probThresh', 'nmsThresh'],
    tag: 'stardist',
  },
  cellpose: {
    title: 'Cellpose-like',
    cite: {
      text: 'Stringer C, Wang T, Michaelos M, Pachitariu M. Cellpose: a generalist algorithm for cellular segmentation. Nature Methods 18, 100-106 (2021).',
      doi: '10.1038/s41592-020-01018-x',
    },
    channels: () => ['flow_y', 'flow_x', 'cellprob'],
    post: ['cellprobThresh', 'flowThresh', 'minSize', 'niter', 'diameter', 'flowScale'],
    tag: 'cellpose',
  },
  elephant: {
    title: 'ELEPHANT-like',
    cite: {
      text: 'Sugawara K, Cevrim C, Averof M. Tracking cell lineages in 3D by incremental deep learning. eLife 11:e69380 (2022).',
      doi: '10.7554/eLife.69380',
    },
    channels: () => ['background', 'border', 'centre'],
    post: ['centerThresh', 'foregroundThresh', 'minCenterSize', 'minSize', 'centerRatio'],
    tag: 'elephant',
  },
};

const TALK = {
  text: 'Sugawara K. Deep learning with sparse annotations in cell image segmentation. NEUBIAS 2023 (talk); cellsparse.',
  url: 'https://github.com/ksugar/cellsparse',
};

/**
 * Halo in input pixels: the U-Net's receptive half-width bound (training/predict.ts defaultOverlap), 8 * grid * 2^depth.
 * The output axes declare it in their own pixels (divided by the grid).
 */
export function unetHalo(unet: Pick<UNetConfig, 'depth'> & { grid?: number }): number {
  return 8 * unetDivisor(unet);
}

/** Smallest input side the rdf allows: more than twice the halo (the spec's rule), a multiple of grid * 2^depth. */
export function minInputSize(unet: Pick<UNetConfig, 'depth'> & { grid?: number }): number {
  return 2 * unetHalo(unet) + unetDivisor(unet);
}

/**
 * A square test crop (a multiple of the U-Net divisor, at least minInputSize, otherwise at most TEST_CROP_MAX
 * or the image), centred on the labeled pixels when labels are given; mirrored where the image is smaller.
 */
export function pickTestCrop(image: Image2D, unet: Pick<UNetConfig, 'depth'> & { grid?: number }, labels?: Labels2D): Image2D {
  const { height: H, width: W } = image;
  const divisor = unetDivisor(unet);
  const fit = Math.floor(Math.min(H, W, Math.max(TEST_CROP_MAX, minInputSize(unet))) / divisor) * divisor;
  const side = Math.max(fit, minInputSize(unet));
  let cy = H / 2,
    cx = W / 2;
  const box = labels && objectsBox(labels);
  if (box) {
    cy = (box.y0 + box.y1 + 1) / 2;
    cx = (box.x0 + box.x1 + 1) / 2;
  }
  const clampStart = (c: number, n: number) => (n >= side ? Math.min(Math.max(0, Math.round(c - side / 2)), n - side) : 0);
  const data = extractWindow(image, clampStart(cy, H), clampStart(cx, W), side, side);
  return { height: side, width: side, channels: image.channels, data };
}

/** Channels-last Image2D -> C x H x W data (the NCHW layout of ONNX and the test tensors). */
export function channelsFirst(img: Image2D): Float32Array {
  const { height: h, width: w, channels: c, data } = img;
  const out = new Float32Array(data.length);
  for (let i = 0; i < h * w; i++) for (let k = 0; k < c; k++) out[k * h * w + i] = data[i * c + k];
  return out;
}

/** Activated network output for one (already normalised) image, channels-last (1/grid of its size). Caller: any backend. */
function forward(model: SegmentationModel, x: Image2D): Image2D {
  // The tensor leaves tidy, its values are read outside: tidy walks whatever its callback returns looking for
  // tensors, element by element for a typed array (seconds for a few million values).
  const out = tf.tidy(() => model.family.activate(unetForward(model.unet, tf.tensor4d(x.data, [1, x.height, x.width, x.channels])), model.config));
  const maps = out.dataSync() as Float32Array;
  out.dispose();
  const g = model.unet.config.grid;
  const grid = g > 1 ? { fullHeight: x.height, fullWidth: x.width } : {};
  return { height: x.height / g, width: x.width / g, channels: model.unet.config.outputChannels, data: maps, ...grid };
}

function coverPng(norm: Image2D, labels: Labels2D): Uint8Array {
  const { height: h, width: w, channels: c } = norm;
  const out = new Uint8Array(h * 2 * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, norm.data[(y * w + x) * c])));
      const id = labels.data[y * w + x];
      let edge = false;
      if (id > 0)
        for (const [dy, dx] of [
          [0, 1],
          [1, 0],
          [0, -1],
          [-1, 0],
        ]) {
          const yy = y + dy,
            xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= h || xx >= w || labels.data[yy * w + xx] !== id) {
            edge = true;
            break;
          }
        }
      const l = (y * 2 * w + x) * 3,
        r = l + 3 * w;
      out[l] = out[l + 1] = out[l + 2] = v;
      if (edge) {
        const hue = (id * 137.508) % 360;
        const rgb = [Math.cos((hue * Math.PI) / 180), Math.cos(((hue - 120) * Math.PI) / 180), Math.cos(((hue + 120) * Math.PI) / 180)];
        for (let k = 0; k < 3; k++) out[r + k] = Math.round(127 + 128 * Math.max(-0.99, Math.min(0.99, rgb[k])));
      } else out[r] = out[r + 1] = out[r + 2] = v;
    }
  return encodeRgbPng(2 * w, h, out);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function readme(model: SegmentationModel, meta: ExportMetadata, cfg: SparsecellPackageConfig, objects: number): string {
  const t = meta.training;
  const f = FAMILY_TEXT[model.family.name];
  const pct = (a: number, b?: number) => (b ? `${((100 * a) / b).toFixed(2)} %` : 'n/a');
  const n = (v?: number) => (v === undefined ? 'unknown' : String(v));
  const post = Object.entries(cfg.postprocessing)
    .map(([k, v]) => `\`${k}\` = ${JSON.stringify(v)}`)
    .join(', ');
  return `# ${meta.name ?? defaultName(model)}

A ${f.title} instance segmentation model trained with sparsecell (JSON-RPC daemon with napari and Fiji clients) from
**sparse** annotations: the loss ignored every pixel that was not labeled.

## How it was trained

| | |
|---|---|
| family | ${model.family.name} (${f.title}) |
| network | U-Net, depth ${cfg.unet.depth}, ${cfg.unet.filters} filters, ${cfg.unet.inputChannels} input channel(s), ${cfg.unet.outputChannels} outputs |
| images | ${t.images} |
| labeled objects | ${n(t.objects)} |
| labeled background pixels | ${n(t.backgroundPixels)} |
| labeled pixels (sparse fraction) | ${t.labeledPixels} of ${n(t.totalPixels)} (${pct(t.labeledPixels, t.totalPixels)}) |
| training steps | ${t.steps} |
| backend | ${t.backend} |
| date | ${t.date} |

## Using it

- Input \`${ONNX_INPUT}\`: axes (batch, channel, y, x), float32, raw intensities. Height and width must be multiples
  of ${unetDivisor(cfg.unet)}, at least ${minInputSize(cfg.unet)}; tiles need a halo of ${unetHalo(cfg.unet)} px to match whole-image predictions. The preprocessing normalises each image and channel with its own percentiles
  (${cfg.normalization.pmin} and ${cfg.normalization.pmax}, as csbdeep's \`normalize\`)${cfg.normalization.invert ? ', then inverts them (1 - v: the model was adapted to dark objects on a bright background)' : ''}${cfg.normalization.clip ? ' and clips to [0, 1]' : ''}.
${cfg.scale !== 1 ? `- The model was trained on images resampled by ${cfg.scale.toFixed(4)} (${[cfg.familyConfig.diameter ? `object diameter ${cfg.familyConfig.diameter as number} px -> 30 px` : '', cfg.adapt && cfg.adapt.scale !== 1 ? `a starter adapted to these images by ${cfg.adapt.scale}` : ''].filter(Boolean).join('; ')}): resample inputs by this factor first. The test tensors are already resampled.\n` : ''}- Output \`${ONNX_OUTPUT}\`: axes (batch, channel, y, x), channels ${f.channels(cfg.familyConfig).slice(0, 4).join(', ')}${f.channels(cfg.familyConfig).length > 4 ? ', …' : ''}
  (the family's activation is part of the ONNX graph).${cfg.unet.grid > 1 ? ` The output is predicted on StarDist's grid ${cfg.unet.grid}: output pixel (i, j) belongs to input pixel (${cfg.unet.grid}i, ${cfg.unet.grid}j), so each spatial axis is 1/${cfg.unet.grid} of the input's; distances are in input pixels.` : ''}
- Instances need the family's post-processing (${model.family.name === 'stardist' ? 'StarDist polygon NMS' : model.family.name === 'cellpose' ? 'Cellpose flow following' : 'ELEPHANT seeded growing'}),
  with ${post}. sparsecell does it when the package is imported back (\`model.import {format: "bioimageio"}\`).
- The test crop holds ${objects} predicted object(s); \`cover.png\` shows them.

## Validation

\`test_input.npy\` is a ${cfg.unet.inputChannels}-channel crop of a training image (raw intensities); \`test_output.npy\` is
sparsecell's own (tfjs) network output for it, after the preprocessing above. The ONNX weights reproduce it to
1e-4 (checked by sparsecell's tests with onnxruntime, and by \`bioimageio.core\`'s model test).

Weights: \`weights.onnx\` (opset ${ONNX_OPSET}, float32), written by sparsecell ${meta.sparsecellVersion} without a converter.
`;
}

function defaultName(model: SegmentationModel): string {
  return `sparsecell ${FAMILY_TEXT[model.family.name].title} model`;
}

/** The package: returns the zip bytes and, for callers and tests, the rdf object and the test tensors. */
export function buildPackage(
  model: SegmentationModel,
  testImage: Image2D,
  meta: ExportMetadata,
  scale = 1,
): { zip: Uint8Array; rdf: Record<string, unknown>; testOutput: Image2D; labels: Labels2D } {
  const unet = model.unet.config;
  const d = unetDivisor(unet);
  if (testImage.height % d || testImage.width % d || Math.min(testImage.height, testImage.width) < minInputSize(unet))
    throw new Error(`test image ${testImage.height}x${testImage.width} is not a multiple of ${d} of at least ${minInputSize(unet)}`);
  if (testImage.channels !== unet.inputChannels) throw new Error(`test image has ${testImage.channels} channels; the model takes ${unet.inputChannels}`);
  const norm = model.normalization;
  if (norm.pmax <= 1) throw new PackageError(`normalization.pmax ${norm.pmax} cannot be written as a bioimage.io scale_range (max_percentile must be > 1)`);
  const x = normalizeImage(testImage, norm);
  const out = forward(model, x);
  const inst = model.family.postprocess(out, model.config);
  const name = meta.name ?? defaultName(model);
  if (!/^[A-Za-z0-9_+\- ()]{5,128}$/.test(name)) throw new PackageError('name must be 5-128 letters, digits, spaces or _+-()');
  const f = FAMILY_TEXT[model.family.name];
  const fc = model.config as unknown as Record<string, unknown>;
  const cfg: SparsecellPackageConfig = {
    version: PACKAGE_CONFIG_VERSION,
    family: model.family.name,
    familyConfig: { ...fc },
    unet: { ...unet },
    normalization: { ...norm },
    scale,
    ...(model.meta.adapt ? { adapt: { scale: Number((model.meta.adapt as { scale?: unknown }).scale ?? 1), invert: norm.invert === true } } : {}),
    postprocessing: Object.fromEntries(f.post.filter((k) => fc[k] !== undefined).map((k) => [k, fc[k]])),
    modelVersion: model.version,
    training: meta.training,
  };
  const onnx = unetToOnnx(unet, activationSpec(model), getUNetWeights(model.unet), `sparsecell ${model.family.name} U-Net`, {
    sparsecell_family: model.family.name,
  });
  const inNpy = writeNpy(channelsFirst(testImage), [1, testImage.channels, testImage.height, testImage.width]);
  const outNpy = writeNpy(channelsFirst(out), [1, out.channels, out.height, out.width]);
  // sample tensors: (C, H, W) float32 TIFF stacks (the spec wants an imageio-readable image, not .npy)
  const inTif = encodeTiff({ dtype: 'float32', pages: testImage.channels, height: testImage.height, width: testImage.width, data: channelsFirst(testImage) });
  const outTif = encodeTiff({ dtype: 'float32', pages: out.channels, height: out.height, width: out.width, data: channelsFirst(out) });
  const cover = coverPng(x, inst.labels);
  const readmeText = new TextEncoder().encode(readme(model, meta, cfg, inst.polygons.length));
  // With an output grid g (StarDist's grid) the output pixels are g input pixels wide: scale g, so that the spec's
  // size rule (size = input size * input scale / scale) gives input / g; the halo is counted in output pixels.
  const g = unet.grid;
  const halo = unetHalo(unet) / g;
  const space = (id: string) => ({ type: 'space', id, size: { min: minInputSize(unet), step: d } });
  const outSpace = (id: string) => ({ type: 'space', id, size: { tensor_id: ONNX_INPUT, axis_id: id }, ...(g > 1 ? { scale: g } : {}), halo });
  const preprocessing: unknown[] = [
    { id: 'ensure_dtype', kwargs: { dtype: 'float32' } },
    { id: 'scale_range', kwargs: { axes: ['y', 'x'], min_percentile: norm.pmin, max_percentile: norm.pmax, eps: Math.max(norm.eps, 1e-20) } },
  ];
  // dark objects on a bright background (a starter adapted to them): v -> 1 - v after the percentiles, before clipping
  if (norm.invert) preprocessing.push({ id: 'scale_linear', kwargs: { gain: -1, offset: 1 } });
  if (norm.clip) preprocessing.push({ id: 'clip', kwargs: { min: 0, max: 1 } });
  const file = (source: string, b: Uint8Array) => ({ source, sha256: sha256(b) });
  const config: Record<string, unknown> = { sparsecell: cfg };
  if (model.family.name === 'stardist') {
    config.stardist = {
      n_rays: fc.nRays,
      grid: [g, g],
      prob_thresh: fc.probThresh,
      nms_thresh: fc.nmsThresh,
      thresholds: { prob: fc.probThresh, nms: fc.nmsThresh },
    };
  }
  const rdf: Record<string, unknown> = {
    format_version: RDF_FORMAT_VERSION,
    type: 'model',
    name,
    description: meta.description ?? `${f.title} instance segmentation (U-Net, ONNX) trained from sparse annotations with sparsecell.`,
    authors: (meta.authors?.length ? meta.authors : ['sparsecell user']).map((a) => ({ name: a })),
    cite: [f.cite, TALK],
    license: meta.license ?? 'CC-BY-4.0',
    tags: ['sparsecell', f.tag, 'instance-segmentation', 'segmentation', '2d', 'unet', 'onnx', 'sparse-annotation', 'fluorescence-light-microscopy'],
    documentation: 'README.md',
    covers: ['cover.png'],
    timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    inputs: [
      {
        id: ONNX_INPUT,
        description: 'raw image (percentile-normalised by the preprocessing)',
        axes: [
          { type: 'batch' },
          { type: 'channel', channel_names: Array.from({ length: unet.inputChannels }, (_, k) => `channel${k}`) },
          space('y'),
          space('x'),
        ],
        test_tensor: file('test_input.npy', inNpy),
        sample_tensor: file('sample_input.tif', inTif),
        data: { type: 'float32' },
        preprocessing,
      },
    ],
    outputs: [
      {
        id: ONNX_OUTPUT,
        description: `${f.title} maps: ${f.channels(fc).slice(0, 3).join(', ')}${out.channels > 3 ? ', …' : ''}`,
        axes: [{ type: 'batch' }, { type: 'channel', channel_names: f.channels(fc) }, outSpace('y'), outSpace('x')],
        test_tensor: file('test_output.npy', outNpy),
        sample_tensor: file('sample_output.tif', outTif),
        data: { type: 'float32' },
      },
    ],
    weights: { onnx: { ...file('weights.onnx', onnx), opset_version: ONNX_OPSET } },
    config,
  };
  const rdfText = new TextEncoder().encode(stringifyYaml(rdf, { lineWidth: 0 }));
  const zip = writeZip([
    { name: 'rdf.yaml', data: rdfText },
    { name: 'weights.onnx', data: onnx },
    { name: 'test_input.npy', data: inNpy },
    { name: 'test_output.npy', data: outNpy },
    { name: 'sample_input.tif', data: inTif },
    { name: 'sample_output.tif', data: outTif },
    { name: 'cover.png', data: cover },
    { name: 'README.md', data: readmeText },
  ]);
  return { zip, rdf, testOutput: out, labels: inst.labels };
}

/** An error in a package that a user sent: the message says what is wrong or unsupported. */
export class PackageError extends Error {}

export interface ReadPackage {
  rdf: Record<string, unknown>;
  config: SparsecellPackageConfig;
  files: Map<string, Uint8Array>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Unzip and check a package; throws PackageError naming what is missing or not supported. */
export function readPackage(zip: Uint8Array, maxBytes: number): ReadPackage {
  let files: Map<string, Uint8Array>;
  try {
    files = readZip(zip, maxBytes);
  } catch (e) {
    throw new PackageError(`not a bioimage.io package: ${(e as Error).message}`);
  }
  const rdfName = ['rdf.yaml', 'bioimageio.yaml'].find((n) => files.has(n)) ?? [...files.keys()].find((n) => /^[^/]*\.bioimageio\.yaml$/.test(n));
  if (!rdfName)
    throw new PackageError(
      `not a bioimage.io package: no rdf.yaml or bioimageio.yaml at the top of the zip (found ${[...files.keys()].slice(0, 8).join(', ') || 'nothing'})`,
    );
  let rdf: unknown;
  try {
    rdf = parseYaml(new TextDecoder('utf-8', { fatal: true }).decode(files.get(rdfName)), { maxAliasCount: 100 });
  } catch (e) {
    throw new PackageError(`${rdfName} is not valid YAML: ${(e as Error).message}`);
  }
  if (!isObj(rdf)) throw new PackageError(`${rdfName} is not a mapping`);
  if (rdf.type !== 'model') throw new PackageError(`${rdfName}: type is ${JSON.stringify(rdf.type)}, not "model"`);
  const fv = String(rdf.format_version ?? '');
  if (!/^0\.5\./.test(fv)) throw new PackageError(`${rdfName}: format_version ${fv || '(none)'} is not supported (sparsecell reads model spec 0.5.x)`);
  const weights = isObj(rdf.weights) ? Object.keys(rdf.weights) : [];
  const sc = isObj(rdf.config) ? rdf.config.sparsecell : undefined;
  if (!isObj(sc)) {
    const arch =
      isObj(rdf.weights) && isObj((rdf.weights as Record<string, unknown>).pytorch_state_dict)
        ? ` (architecture ${JSON.stringify(((rdf.weights as Record<string, Record<string, unknown>>).pytorch_state_dict.architecture as Record<string, unknown> | undefined)?.callable ?? 'unknown')})`
        : '';
    throw new PackageError(
      `unsupported model: "${String(rdf.name ?? '?')}" was not exported by sparsecell (no config.sparsecell; weights: ${weights.join(', ') || 'none'}${arch}). sparsecell imports only its own U-Net packages`,
    );
  }
  if (!weights.includes('onnx'))
    throw new PackageError(`unsupported weights: the package has ${weights.join(', ') || 'no weights'}; sparsecell imports ONNX weights`);
  if (sc.version !== PACKAGE_CONFIG_VERSION)
    throw new PackageError(`config.sparsecell.version ${JSON.stringify(sc.version)} is not supported (this server reads ${PACKAGE_CONFIG_VERSION})`);
  return { rdf, config: sc as unknown as SparsecellPackageConfig, files };
}

/** A SegmentationModel from one of our own packages (ONNX weights -> tfjs variables). Caller owns the model. */
export function importPackage(zip: Uint8Array, maxBytes: number): SegmentationModel {
  const { rdf, config: sc, files } = readPackage(zip, maxBytes);
  let family, config, unet, normalization;
  try {
    family = getFamily(sc.family);
    config = family.parseConfig(sc.familyConfig);
    unet = makeUNetConfig(sc.unet);
    normalization = parseNormalization(sc.normalization);
  } catch (e) {
    throw new PackageError(`config.sparsecell: ${(e as Error).message}`);
  }
  if (
    unet.outputChannels !== family.outputChannels(config) ||
    unet.inputChannels !== config.inputChannels ||
    unet.depth !== config.unetDepth ||
    unet.filters !== config.unetFilters ||
    unet.grid !== (family.grid?.(config) ?? 1)
  )
    throw new PackageError('config.sparsecell: the U-Net settings do not match the family config');
  const onnxEntry = (rdf.weights as Record<string, { source?: unknown }>).onnx;
  const src = String(onnxEntry?.source ?? '');
  const bytes = files.get(src.replace(/^\.\//, ''));
  if (!bytes) throw new PackageError(`weights.onnx.source ${JSON.stringify(src)} is not a file in the package`);
  let weights;
  try {
    weights = onnxToUNetWeights(bytes, unet, activationSpec({ family, config }));
  } catch (e) {
    throw new PackageError(`${src}: ${(e as Error).message}`);
  }
  const u = createUNet(unet);
  try {
    setUNetWeights(u, weights);
  } catch (e) {
    disposeUNet(u);
    throw e;
  }
  const adapt =
    sc.adapt && typeof sc.adapt.scale === 'number' && sc.adapt.scale > 0 ? { adapt: { scale: sc.adapt.scale, invert: normalization.invert === true } } : {};
  return { family, config, unet: u, normalization, version: sc.modelVersion ?? 0, meta: { importedFrom: 'bioimageio', training: sc.training, ...adapt } };
}

/** The package's test tensors (for tests and checks): input [1, C, H, W] and output [1, C', H, W]. */
export function packageTestTensors(files: Map<string, Uint8Array>): { input: ReturnType<typeof readNpy>; output: ReturnType<typeof readNpy> } {
  const get = (n: string) => {
    const b = files.get(n);
    if (!b) throw new PackageError(`package has no ${n}`);
    return readNpy(b);
  };
  return { input: get('test_input.npy'), output: get('test_output.npy') };
}
