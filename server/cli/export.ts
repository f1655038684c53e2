/**
 * `sparsecell export`: a model archive (from `sparsecell train` or model.export) as a bioimage.io model package
 * (zip: rdf.yaml, ONNX weights, test tensors, cover, README; server/bioimageio/package.ts), or as a copy of
 * sparsecell's own archive.
 */
import { dirname } from 'node:path';
import { ensureDir, fileExists, readBytes, readImage, readLabels, writeBytes } from '../storage/dataset.js';
import { initBackend } from '../tensor/backend.js';
import { deserializeModel, disposeModel, readModelSpec, type SegmentationModel } from '../models/segmentation-model.js';
import { modelScale, rescaleImage } from '../training/rescale.js';
import { resizeLabels, scaledSize } from '../imaging/resize.js';
import type { Image2D, Labels2D } from '../imaging/types.js';
import { buildPackage, pickTestCrop, PackageError, type TrainingSummary } from '../bioimageio/package.js';
import { packageVersion } from '../storage/package-info.js';
import { BIOIMAGEIO_LICENSES } from '../../protocol/src/methods.js';
import { UsageError, backendChoice, choice, optionalString, parseFlags, requireString, runCli } from './args.js';

export const EXPORT_USAGE = `usage: sparsecell export --model MODEL.scm --out FILE [options]

  --model MODEL.scm     a model written by "sparsecell train" (or model.export)
  --out FILE            where to write the package (model.zip) or archive
  --format F            bioimageio (bioimage.io model package, spec 0.5, ONNX weights; default) |
                        sparsecell (sparsecell's own archive, as model.export writes it)
  --image TIFF          image whose crop becomes the package's test tensor and cover (default: the crop
                        "sparsecell train" keeps in the model)
  --labels TIFF         labels of --image (to centre the crop on labeled objects); --encoding signed|offset1
  --name NAME           model name (5-128 letters, digits, spaces, _+-())
  --description TEXT    one sentence
  --authors "A;B"       author names, separated by ';' (default "sparsecell user")
  --license SPDX        license id (default CC-BY-4.0): ${BIOIMAGEIO_LICENSES.join(', ')}
  --backend B           auto | wasm | tfjs-node | tfjs-node-gpu | cpu (default: SPARSECELL_BACKEND or auto)
`;

/** The test crop `sparsecell train` keeps in model.meta.testImage (raw intensities at model scale, base64 float32). */
export interface StoredTestImage {
  height: number;
  width: number;
  channels: number;
  data: string;
}

export function storeTestImage(img: Image2D): StoredTestImage {
  return {
    height: img.height,
    width: img.width,
    channels: img.channels,
    data: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).toString('base64'),
  };
}

function storedTestImage(model: SegmentationModel): Image2D | undefined {
  const t = model.meta.testImage as StoredTestImage | undefined;
  if (!t || typeof t.data !== 'string') return undefined;
  const b = Buffer.from(t.data, 'base64');
  if (b.length !== 4 * t.height * t.width * t.channels) return undefined;
  const data = new Float32Array(t.height * t.width * t.channels);
  new Uint8Array(data.buffer).set(b);
  return { height: t.height, width: t.width, channels: t.channels, data };
}

export async function run(args: string[], env: { backend?: string } = {}): Promise<number> {
  return runCli('export', EXPORT_USAGE, async () => {
    const str = { type: 'string' } as const;
    const f = parseFlags(args, {
      model: str,
      out: str,
      format: str,
      image: str,
      labels: str,
      encoding: str,
      name: str,
      description: str,
      authors: str,
      license: str,
      backend: str,
    });
    if (f.help) {
      process.stdout.write(EXPORT_USAGE);
      return 0;
    }
    const modelPath = requireString(f, 'model');
    if (!fileExists(modelPath)) throw new UsageError(`--model: file not found: ${modelPath}`);
    const out = requireString(f, 'out');
    const format = choice(f, 'format', ['bioimageio', 'sparsecell'] as const, 'bioimageio');
    const bytes = readBytes(modelPath);
    try {
      readModelSpec(bytes);
    } catch (e) {
      throw new UsageError(`--model: ${modelPath}: ${(e as Error).message}`);
    }
    ensureDir(dirname(out) || '.');
    if (format === 'sparsecell') {
      writeBytes(out, bytes);
      process.stderr.write(`sparsecell export: wrote ${out} (${bytes.length} bytes)\n`);
      return 0;
    }
    const imagePath = optionalString(f, 'image');
    const labelsPath = optionalString(f, 'labels');
    if (labelsPath && !imagePath) throw new UsageError('--labels needs --image');
    for (const [flag, p] of [
      ['image', imagePath],
      ['labels', labelsPath],
    ] as const)
      if (p && !fileExists(p)) throw new UsageError(`--${flag}: file not found: ${p}`);
    const encoding = choice(f, 'encoding', ['signed', 'offset1'] as const, 'signed');
    const license = choice(f, 'license', BIOIMAGEIO_LICENSES, 'CC-BY-4.0');
    const authors = optionalString(f, 'authors')
      ?.split(';')
      .map((a) => a.trim())
      .filter(Boolean);
    const info = await initBackend(backendChoice(f, env.backend));
    const model = deserializeModel(bytes);
    try {
      let crop: Image2D | undefined;
      const scale = modelScale(model);
      if (imagePath) {
        const image = readImage(imagePath);
        if (image.channels !== model.config.inputChannels)
          throw new UsageError(`--image has ${image.channels} channel(s); the model takes ${model.config.inputChannels}`);
        let labels: Labels2D | undefined;
        if (labelsPath) {
          labels = readLabels(labelsPath, encoding);
          if (labels.height !== image.height || labels.width !== image.width)
            throw new UsageError(`--labels is ${labels.height}x${labels.width}; --image is ${image.height}x${image.width}`);
          if (scale !== 1) labels = resizeLabels(labels, scaledSize(labels.height, scale), scaledSize(labels.width, scale));
        }
        crop = pickTestCrop(rescaleImage(image, scale), model.unet.config, labels);
      } else {
        const stored = storedTestImage(model);
        if (!stored) throw new UsageError('--image is required: this model keeps no test image (models from "sparsecell train" do)');
        crop = pickTestCrop(stored, model.unet.config);
      }
      const t = (model.meta.training ?? {}) as Partial<TrainingSummary>;
      const training: TrainingSummary = {
        images: t.images ?? 0,
        objects: t.objects,
        backgroundPixels: t.backgroundPixels,
        labeledPixels: t.labeledPixels ?? 0,
        totalPixels: t.totalPixels,
        steps: t.steps ?? (model.meta.steps as number | undefined) ?? 0,
        backend: t.backend ?? info.name,
        date: t.date ?? new Date().toISOString(),
      };
      const pkg = buildPackage(
        model,
        crop,
        {
          name: optionalString(f, 'name'),
          description: optionalString(f, 'description'),
          authors,
          license,
          training,
          sparsecellVersion: packageVersion(),
        },
        scale,
      );
      writeBytes(out, pkg.zip);
      process.stderr.write(
        `sparsecell export: wrote ${out} (bioimage.io package, ${pkg.zip.length} bytes; test crop ${crop.height}x${crop.width} with ${new Set(pkg.labels.data).size - (pkg.labels.data.includes(0) ? 1 : 0)} predicted objects)\n`,
      );
      return 0;
    } catch (e) {
      if (e instanceof PackageError) throw new UsageError(e.message);
      throw e;
    } finally {
      disposeModel(model);
    }
  });
}
