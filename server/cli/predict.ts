/**
 * `sparsecell predict`: run a trained model on every image TIFF of a folder and write one instance label TIFF
 * per image (same file name; 0 background, 1..n objects), optionally the polygons as `<stem>.polygons.json`.
 */
import { join } from 'node:path';
import { ensureDir, fileExists, listTiffs, readBytes, readImage, writeBytes, writeLabels } from '../storage/dataset.js';
import { initBackend } from '../tensor/backend.js';
import { deserializeModel, disposeModel, readModelSpec, storedThresholds } from '../models/segmentation-model.js';
import { familyNames } from '../models/registry.js';
import { starterArchive } from './starter.js';
import { predictImage } from '../training/predict.js';
import { ProgressBar, formatDuration } from './progress-bar.js';
import { UsageError, backendChoice, choice, optionalNumber, parseFlags, requireDir, requireString, runCli } from './args.js';

export const PREDICT_USAGE = `usage: sparsecell predict --model MODEL.scm --images DIR --out DIR [options]

  --model MODEL.scm     a model written by "sparsecell train" (or model.export), or the name of a built-in
                        starter model, e.g. "nuclei" (server.info.starterModels; README "Starter models")
  --family F            the starter's family when --model names one: ${familyNames().join(' | ')} (default stardist)
  --images DIR          image TIFFs to segment
  --out DIR             label TIFFs are written here with the images' file names
  --prob-thresh P       object probability threshold in (0, 1) (default: the model's: those stored with it,
                        e.g. a starter's, chosen on validation images; else the family's)
  --nms-thresh T        polygon NMS overlap threshold in [0, 1] (StarDist-like; default: the model's)
  --tile N              prediction window side in pixels (default 512)
  --polygons            also write <name>.polygons.json: [{id, score, points: [[y, x], ...]}, ...]
  --backend B           auto | wasm | tfjs-node | tfjs-node-gpu | cpu (default: SPARSECELL_BACKEND or auto)
`;

export async function run(args: string[], env: { backend?: string; modelsDir?: string } = {}): Promise<number> {
  return runCli('predict', PREDICT_USAGE, async () => {
    const str = { type: 'string' } as const;
    const f = parseFlags(args, {
      model: str,
      family: str,
      images: str,
      out: str,
      'prob-thresh': str,
      'nms-thresh': str,
      tile: str,
      polygons: { type: 'boolean' },
      backend: str,
    });
    if (f.help) {
      process.stdout.write(PREDICT_USAGE);
      return 0;
    }
    const modelPath = requireString(f, 'model');
    const family = choice(f, 'family', familyNames(), 'stardist');
    // A file wins; otherwise the name of a built-in starter model.
    const isFile = fileExists(modelPath);
    if (!isFile && !/^[A-Za-z0-9_-]{1,64}$/.test(modelPath)) throw new UsageError(`--model: file not found: ${modelPath}`);
    const imagesDir = requireDir(f, 'images');
    const outDir = requireString(f, 'out');
    const probThresh = optionalNumber(f, 'prob-thresh', { min: 0, max: 1, minOpen: true, maxOpen: true });
    const nmsThresh = optionalNumber(f, 'nms-thresh', { min: 0, max: 1 });
    const tileSize = optionalNumber(f, 'tile', { int: true, min: 16, max: 8192 });
    const writePolygons = f.polygons === true;
    const backend = backendChoice(f, env.backend);
    const bytes = isFile ? readBytes(modelPath) : starterArchive('model', modelPath, family, env.modelsDir);
    try {
      readModelSpec(bytes);
    } catch (e) {
      throw new UsageError(`--model: ${modelPath}: ${(e as Error).message}`);
    }
    const names = listTiffs(imagesDir);
    if (names.length === 0) throw new UsageError(`--images: no .tif/.tiff files in ${imagesDir}`);
    ensureDir(outDir);

    const info = await initBackend(backend);
    const model = deserializeModel(bytes);
    const stored = storedThresholds(model);
    process.stderr.write(`sparsecell predict: ${model.family.name} model (version ${model.version}), ${names.length} images, backend ${info.name}\n`);
    const bar = new ProgressBar({ label: 'predict', total: names.length, unit: 'images' });
    const t0 = Date.now();
    let objects = 0;
    try {
      for (const [i, name] of names.entries()) {
        const image = readImage(join(imagesDir, name));
        // = training/pipeline.ts segment(), plus the window size
        const maps = await predictImage(model, image, {
          tileSize,
          onProgress: ({ done, total }) => bar.update(i + done / total, { image: name, tile: `${done}/${total}` }),
        });
        const inst = model.family.postprocess(maps, model.config, { probThresh: probThresh ?? stored.probThresh, nmsThresh: nmsThresh ?? stored.nmsThresh });
        writeLabels(join(outDir, name), inst.labels);
        if (writePolygons) {
          const stem = name.replace(/\.tiff?$/i, '');
          writeBytes(join(outDir, `${stem}.polygons.json`), JSON.stringify(inst.polygons.map((p) => ({ id: p.id, score: p.score, points: p.points }))));
        }
        objects += inst.polygons.length;
        bar.update(i + 1, { image: name, objects: inst.polygons.length });
      }
    } finally {
      disposeModel(model);
    }
    bar.finish(`${objects} objects in ${formatDuration((Date.now() - t0) / 1000)}`);
    process.stderr.write(`sparsecell predict: wrote ${names.length} label images to ${outDir}\n`);
    return 0;
  });
}
