/**
 * `sparsecell train`: train a model from a folder of images and a folder of sparse label images with the same
 * file names, and write the model archive (models/segmentation-model.ts serializeModel) to --out.
 * Ctrl-C (SIGINT) stops training after the current step and still writes the model.
 */
import { dirname } from 'node:path';
import { loadDataset, ensureDir, fileExists, listTiffs, readBytes, writeBytes } from '../storage/dataset.js';
import { initBackend } from '../tensor/backend.js';
import { familyNames, getFamily } from '../models/registry.js';
import { familyDivisor } from '../models/configs.js';
import type { FamilyName } from '../models/model-family.js';
import { deserializeModel, serializeModel, disposeModel, readModelSpec, type SegmentationModel } from '../models/segmentation-model.js';
import { fitModel } from '../training/pipeline.js';
import type { InputAdaptation } from '../training/adapt.js';
import { FINETUNE_OPTIONS, parseTrainOptions, TRAIN_DEFAULTS, UNBOUNDED_STEPS, type TrainOptions } from '../training/config.js';
import { RECIPE } from '../recipe.js';
import { ProgressBar, formatDuration } from './progress-bar.js';
import { modelScale, rescaleImage } from '../training/rescale.js';
import { resizeLabels, scaledSize } from '../imaging/resize.js';
import { pickTestCrop } from '../bioimageio/package.js';
import { storeTestImage } from './export.js';
import { UsageError, backendChoice, choice, optionalNumber, optionalString, parseFlags, requireDir, requireString, runCli } from './args.js';
import { starterArchive } from './starter.js';

export const TRAIN_USAGE = `usage: sparsecell train --images DIR --labels DIR --out MODEL.scm [options]

  --images DIR          image TIFFs (2-D, one or more channels)
  --labels DIR          label TIFFs with the same file names as the images
  --encoding E          signed (-1 unlabeled, 0 background, k instance; default) or
                        offset1 (0 unlabeled, 1 background, k+1 instance: napari / Fiji label layers)
  --family F            ${familyNames().join(' | ')} (default stardist)
  --config JSON         family config, e.g. '{"unetDepth":3,"unetFilters":32}' (or @file.json)
  --from M              scratch (default: fresh weights), the name of a built-in starter model of the family
                        (e.g. nuclei: fine-tune it with the recipe's fine-tuning policy: lr ${FINETUNE_OPTIONS.learningRate} then
                        ${FINETUNE_OPTIONS.lrFinal}${FINETUNE_OPTIONS.warmupSteps ? `, ${FINETUNE_OPTIONS.warmupSteps} warm-up steps` : ''}${FINETUNE_OPTIONS.freezeEncoderSteps ? `, encoder frozen for ${FINETUNE_OPTIONS.freezeEncoderSteps} steps` : ''}), or a model file to continue
  --steps N             optimizer steps (default: no step limit; without --steps and --time-limit the run
                        lasts the recipe's ${RECIPE.budgetS} s)
  --time-limit SECONDS  stop after this much training time (default ${RECIPE.budgetS} when --steps is not given)
  --batch N             patches per step (default ${TRAIN_DEFAULTS.batchSize})
  --patch N             patch side in pixels (default ${TRAIN_DEFAULTS.patchSize})
  --lr X                Adam learning rate (default ${TRAIN_DEFAULTS.learningRate}; ${TRAIN_DEFAULTS.lrFinal} for the last
                        ${100 * TRAIN_DEFAULTS.finalFraction} % of the steps or time; from a starter ${FINETUNE_OPTIONS.learningRate} / ${FINETUNE_OPTIONS.lrFinal})
  --seed N              sampling seed (default ${TRAIN_DEFAULTS.seed})
  --backend B           auto | wasm | tfjs-node | tfjs-node-gpu | cpu (default: SPARSECELL_BACKEND or auto)
  --out MODEL.scm       where to write the trained model
`;

function parseConfigFlag(s: string | undefined): Record<string, unknown> {
  if (s === undefined) return {};
  let text = s;
  if (s.startsWith('@')) {
    try {
      text = new TextDecoder().decode(readBytes(s.slice(1)));
    } catch {
      throw new UsageError(`--config: cannot read ${s.slice(1)}`);
    }
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError('--config must be a JSON object');
  return v as Record<string, unknown>;
}

/** --from: undefined (scratch), or the model to start from and whether it is a starter (fine-tuning policy). */
function startingModel(
  from: string | undefined,
  family: string,
  config: Record<string, unknown>,
  modelsDir?: string,
): { bytes: Uint8Array; label: string; starter: boolean } | undefined {
  if (from === undefined || from === 'scratch') return undefined;
  const isFile = fileExists(from);
  if (!isFile && Object.keys(config).length)
    throw new UsageError('--config cannot be combined with --from a starter model (the starter fixes the family config)');
  const bytes = isFile ? readBytes(from) : starterArchive('from', from, family, modelsDir);
  let spec;
  try {
    spec = readModelSpec(bytes);
  } catch (e) {
    throw new UsageError(`--from: ${from}: ${(e as Error).message}`);
  }
  if (spec.family !== family) throw new UsageError(`--from: ${from} is a ${spec.family} model; pass --family ${spec.family}`);
  return { bytes, label: isFile ? `file ${from}` : `starter ${from}`, starter: !isFile };
}

export async function run(args: string[], env: { backend?: string; modelsDir?: string } = {}): Promise<number> {
  return runCli('train', TRAIN_USAGE, async () => {
    const str = { type: 'string' } as const;
    const f = parseFlags(args, {
      images: str,
      labels: str,
      encoding: str,
      family: str,
      config: str,
      steps: str,
      'time-limit': str,
      batch: str,
      patch: str,
      lr: str,
      seed: str,
      backend: str,
      out: str,
      from: str,
    });
    if (f.help) {
      process.stdout.write(TRAIN_USAGE);
      return 0;
    }
    const imagesDir = requireDir(f, 'images');
    const labelsDir = requireDir(f, 'labels');
    const out = requireString(f, 'out');
    const encoding = choice(f, 'encoding', ['signed', 'offset1'] as const, 'signed');
    const family = choice(f, 'family', familyNames(), 'stardist');
    const config = parseConfigFlag(optionalString(f, 'config'));
    const start = startingModel(optionalString(f, 'from'), family, config, env.modelsDir);
    const stepsFlag = optionalNumber(f, 'steps', { int: true, min: 1, max: UNBOUNDED_STEPS });
    // The recipe: a time budget unless steps are given (server/recipe.ts).
    const timeLimit = optionalNumber(f, 'time-limit', { min: 0, minOpen: true }) ?? (stepsFlag === undefined ? RECIPE.budgetS : undefined);
    const partial: Partial<TrainOptions> = {
      // A starter is fine-tuned with the recipe's policy (an explicit --lr still wins).
      ...(start?.starter ? FINETUNE_OPTIONS : {}),
      steps: stepsFlag ?? UNBOUNDED_STEPS,
      timeLimitS: timeLimit ?? 0,
      batchSize: optionalNumber(f, 'batch', { int: true, min: 1, max: 256 }),
      patchSize: optionalNumber(f, 'patch', { int: true, min: 8, max: 4096 }),
      learningRate: optionalNumber(f, 'lr', { min: 0, max: 1, minOpen: true }) ?? (start?.starter ? FINETUNE_OPTIONS.learningRate : undefined),
      seed: optionalNumber(f, 'seed', { int: true, min: 0, max: 2 ** 31 - 1 }),
    };
    const backend = backendChoice(f, env.backend);
    let trainOpts: TrainOptions;
    try {
      trainOpts = parseTrainOptions(partial);
      getFamily(family).parseConfig(config);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const names = listTiffs(imagesDir);
    if (names.length === 0) throw new UsageError(`--images: no .tif/.tiff files in ${imagesDir}`);
    ensureDir(dirname(out) || '.');

    const info = await initBackend(backend);
    const t0 = Date.now();
    const initial: SegmentationModel | undefined = start ? deserializeModel(start.bytes) : undefined;
    // The network takes patches whose side is a multiple of grid x 2^depth; say so rather than round (as the RPC does).
    const divisor = familyDivisor((initial?.family.name ?? family) as FamilyName, initial?.config ?? { ...config });
    if (partial.patchSize !== undefined && partial.patchSize % divisor !== 0)
      throw new UsageError(`--patch ${partial.patchSize} must be a multiple of ${divisor} (the model's grid x 2^unetDepth)`);
    const data = loadDataset(imagesDir, labelsDir, encoding, names);
    const channels = data[0].image.channels;
    for (const d of data) if (d.image.channels !== channels) throw new Error(`${d.name}: ${d.image.channels} channels, but ${data[0].name} has ${channels}`);
    const labeled = data.reduce((a, d) => a + d.labels!.data.reduce((n, v) => n + (v >= 0 ? 1 : 0), 0), 0);
    if (initial && initial.config.inputChannels !== channels)
      throw new UsageError(`--from: the model expects ${initial.config.inputChannels} channel(s); the images have ${channels}`);
    process.stderr.write(
      `sparsecell train: ${family}${start ? ` from ${start.label}` : ''}, ${data.length} images (${channels} channel${channels > 1 ? 's' : ''}), ${labeled} labeled pixels, backend ${info.name}${info.name === 'wasm' ? (info.simd ? ' (SIMD)' : ' (no SIMD)') : ''}\n`,
    );

    const timeOnly = stepsFlag === undefined && timeLimit !== undefined;
    const bar = timeOnly
      ? new ProgressBar({ label: 'train', total: Math.ceil(timeLimit), unit: 's' })
      : new ProgressBar({ label: 'train', total: trainOpts.steps, unit: 'steps' });
    const ac = new AbortController();
    const onSigint = () => {
      process.stderr.write('\nsparsecell train: interrupted, finishing the current step and saving the model\n');
      ac.abort();
    };
    process.once('SIGINT', onSigint);
    let model;
    let result;
    let adaptation: InputAdaptation | undefined;
    try {
      ({ model, result, adaptation } = await fitModel(
        data.map((d) => ({ image: d.image, labels: d.labels! })),
        // a starter first adapts to these images (polarity, scale) from their labels (training/adapt.ts)
        { family, config: { inputChannels: channels, ...config }, train: trainOpts, ...(initial ? { model: initial } : {}), adapt: start?.starter === true },
        {
          signal: ac.signal,
          onProgress: (p) => {
            const elapsed = bar.elapsedS();
            let eta = p.etaS;
            if (trainOpts.timeLimitS > 0) eta = Math.min(eta, Math.max(0, trainOpts.timeLimitS - elapsed));
            const fields = { loss: p.smoothedLoss, 'steps/s': p.stepsPerS, ETA: formatDuration(eta) };
            if (timeOnly) bar.update(Math.min(elapsed, bar.total), { step: p.step, ...fields });
            else bar.update(p.step, fields);
          },
        },
      ));
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    const trainS = bar.elapsedS();
    bar.finish(`${result.steps} steps in ${formatDuration(trainS)}, loss ${result.loss.toPrecision(4)} (stopped by ${result.stoppedBy})`);
    if (adaptation)
      process.stderr.write(
        `sparsecell train: the starter was adapted to these images from ${adaptation.objects} labeled objects before training: scale ${adaptation.scale}${adaptation.invert ? ', intensities inverted (dark objects on a bright background)' : ''} (${(adaptation.ms / 1000).toFixed(1)} s)\n`,
      );
    let objects = 0,
      backgroundPixels = 0,
      totalPixels = 0;
    for (const d of data) {
      const ids = new Set<number>();
      for (const v of d.labels!.data) {
        if (v > 0) ids.add(v);
        else if (v === 0) backgroundPixels++;
      }
      objects += ids.size;
      totalPixels += d.labels!.data.length;
    }
    const first = data.find((d) => d.labels!.data.some((v) => v > 0)) ?? data[0];
    const scale = modelScale(model);
    const firstLabels =
      scale === 1 ? first.labels! : resizeLabels(first.labels!, scaledSize(first.labels!.height, scale), scaledSize(first.labels!.width, scale));
    model.meta = {
      ...model.meta,
      // the crop `sparsecell export` turns into a bioimage.io package's test tensor
      testImage: storeTestImage(pickTestCrop(rescaleImage(first.image, scale), model.unet.config, firstLabels)),
      training: {
        ...(start ? { from: start.label } : {}),
        images: data.length,
        labeledPixels: labeled,
        objects,
        backgroundPixels,
        totalPixels,
        encoding,
        steps: result.steps,
        loss: result.loss,
        stoppedBy: result.stoppedBy,
        seconds: Math.round(trainS * 10) / 10,
        backend: info.name,
        options: { ...trainOpts, steps: result.steps },
        date: new Date().toISOString(),
      },
    };
    const bytes = serializeModel(model);
    disposeModel(model);
    writeBytes(out, bytes);
    process.stderr.write(`sparsecell train: wrote ${out} (${(bytes.length / 1024).toFixed(0)} KiB) in ${formatDuration((Date.now() - t0) / 1000)}\n`);
    return 0;
  });
}
