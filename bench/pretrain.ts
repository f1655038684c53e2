/**
 * `npm run pretrain [-- --family F] [--steps N] [--force]`: the starter models in models/ (README "Starter models").
 *
 * For each family it runs the quality benchmark's pipeline (bench/quality.ts) with the product recipe
 * (server/recipe.ts), full labels, on the TRAINING part only of ../shared/data/dsb2018-train (server/metrics/split.ts:
 * the 50 test images and the 20 validation images are never trained on), chooses the post-processing thresholds on
 * the 20 validation images, scores the 50 test images, and writes:
 *   models/nuclei-<family>.scm   the export archive (model.export format; thresholds and scores in its meta)
 *   models/nuclei-<family>.json  the model card (data, split, steps, backend, wall time, thresholds, scores,
 *                                licence, sha256 of the archive)
 *   models/nuclei-<family>.md    the same card for people
 * Seeded (split seed 0, sampling seed 1, U-Net init seed 42). Resumable: a family whose archive and card exist and
 * agree (sha256) is skipped, so an interrupted run continues with the next family (--force retrains).
 * Progress: the quality benchmark's progress bars on stderr.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { run as quality } from './quality.js';
import { provenance } from './run.js';
import { RECIPE } from '../server/recipe.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MODELS_DIR = join(ROOT, 'models');

/**
 * Training budget per family, in steps of the recipe (8 x 128^2), so the starters do not depend on how busy the
 * machine was; the cards record the wall time. The test scores at EVAL_STEPS form the learning curve that README
 * turns into "what a minute of training gives" with the measured step times per backend.
 */
export const PRETRAIN_STEPS: Record<string, number> = { stardist: 2000, cellpose: 800, elephant: 800 };
export const EVAL_STEPS = [250, 1000];

const DESCRIPTION: Record<string, string> = {
  stardist: 'StarDist-like nuclei model (object probability + 32 star distances, polygon NMS) for 2-D fluorescence nuclei',
  cellpose: 'Cellpose-like nuclei model (flows + cell probability, flow following) for 2-D fluorescence nuclei',
  elephant: 'ELEPHANT-like nuclei model (background / border / centre classes, seeded growing) for 2-D fluorescence nuclei',
};

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface QualityResult {
  family: string;
  backend: { name: string };
  split: { rule: string; seed: number; holdout: number; nTrain: number; nVal: number };
  train: { seconds: number; steps: number; msPerStep: number; learningCurve: unknown[] };
  postprocess: { probThresh?: number; nmsThresh?: number };
  learned: Array<{ thresh: number; accuracy: number; f1: number; panoptic_quality: number }>;
  classical: Array<{ thresh: number; accuracy: number; f1: number; panoptic_quality: number }>;
}

function cardMarkdown(card: Record<string, any>): string {
  const s = card.scores;
  return `# ${card.name} (${card.family})

${card.description}.

| | |
|---|---|
| archive | \`${card.file}\` (${(card.bytes / 1024).toFixed(0)} KiB, sha256 \`${card.sha256}\`) |
| data | ${card.data.name}: ${card.data.source}; licence ${card.data.licence} |
| split | ${card.data.split}; trained on ${card.data.trainImages} images, thresholds chosen on ${card.data.validationImages}, scored on ${card.data.testImages} held-out test images |
| training | ${card.training.steps} steps in ${card.training.seconds} s on the \`${card.training.backend}\` backend (${card.training.msPerStep} ms/step on a shared 2-core machine), recipe ${JSON.stringify(card.training.recipe)} |
| thresholds | probability ${card.thresholds.probThresh}${card.thresholds.nmsThresh !== undefined ? `, NMS ${card.thresholds.nmsThresh}` : ''} |
| test scores (IoU 0.5) | accuracy ${s.accuracy05.toFixed(3)}, F1 ${s.f1.toFixed(3)}, PQ ${s.pq.toFixed(3)} (classical Otsu + watershed on the same images: ${s.classical.accuracy05.toFixed(3)} / ${s.classical.f1.toFixed(3)} / ${s.classical.pq.toFixed(3)}) |
| made by | \`${card.command}\` at commit ${card.commit}, ${card.date} |
`;
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values: f } = parseArgs({
    args: argv,
    strict: true,
    options: { family: { type: 'string', multiple: true }, steps: { type: 'string' }, force: { type: 'boolean' }, backend: { type: 'string' } },
  });
  const families = f.family?.length ? f.family : Object.keys(PRETRAIN_STEPS);
  mkdirSync(MODELS_DIR, { recursive: true });
  const done: Record<string, unknown> = {};
  for (const family of families) {
    if (!(family in PRETRAIN_STEPS)) throw new Error(`--family must be one of ${Object.keys(PRETRAIN_STEPS).join(', ')}`);
    const file = join(MODELS_DIR, `nuclei-${family}.scm`),
      cardFile = join(MODELS_DIR, `nuclei-${family}.json`);
    if (!f.force && existsSync(file) && existsSync(cardFile)) {
      const card = JSON.parse(readFileSync(cardFile, 'utf8')) as { sha256: string };
      if (card.sha256 === sha256(readFileSync(file))) {
        process.stderr.write(`pretrain: ${family}: ${file} is done (sha256 matches its card); --force retrains\n`);
        continue;
      }
    }
    const steps = f.steps ? Number(f.steps) : PRETRAIN_STEPS[family];
    if (!Number.isInteger(steps) || steps < 1) throw new Error('--steps must be a positive integer');
    const evalAt = EVAL_STEPS.filter((s) => s < steps);
    process.stderr.write(`pretrain: ${family}: ${steps} steps (test scores at ${evalAt.join(', ')} too), then thresholds and test scores\n`);
    const args = [
      '--family',
      family,
      '--budget',
      '0',
      '--steps',
      String(steps),
      '--eval-steps',
      evalAt.join(','),
      '--strategy',
      'full',
      '--save-model',
      file,
      ...(f.backend ? ['--backend', f.backend] : []),
    ];
    const r = (await quality(args)) as unknown as QualityResult;
    const bytes = readFileSync(file);
    const at05 = (rows: QualityResult['learned']) => rows.find((x) => Math.abs(x.thresh - 0.5) < 1e-9)!;
    const L = at05(r.learned),
      C = at05(r.classical);
    const prov = provenance('pretrain', ['--family', family, '--steps', String(steps)]);
    const card = {
      name: 'nuclei',
      family,
      description: DESCRIPTION[family],
      file: `models/nuclei-${family}.scm`,
      bytes: bytes.length,
      sha256: sha256(bytes),
      data: {
        name: 'DSB2018 stage1_train (BBBC038v1), grayscale fluorescence nuclei, ../shared/data/dsb2018-train',
        source: 'Caicedo et al., Nature Methods 16, 1247-1253 (2019)',
        licence: 'CC0 1.0',
        split: r.split.rule + ` (seed ${r.split.seed}, ${r.split.holdout} test images)`,
        trainImages: r.split.nTrain,
        validationImages: r.split.nVal,
        testImages: r.split.holdout,
      },
      training: {
        steps: r.train.steps,
        seconds: r.train.seconds,
        msPerStep: r.train.msPerStep,
        backend: r.backend.name,
        recipe: { ...RECIPE, live: undefined },
        learningCurve: r.train.learningCurve,
      },
      thresholds: { probThresh: r.postprocess.probThresh, nmsThresh: r.postprocess.nmsThresh },
      scores: { accuracy05: L.accuracy, f1: L.f1, pq: L.panoptic_quality, classical: { accuracy05: C.accuracy, f1: C.f1, pq: C.panoptic_quality } },
      command: `npm run pretrain -- --family ${family}`,
      commit: prov.commit,
      date: prov.finished,
      machine: prov.machine,
    };
    writeFileSync(cardFile, JSON.stringify(card, null, 2) + '\n');
    writeFileSync(join(MODELS_DIR, `nuclei-${family}.md`), cardMarkdown(card));
    process.stderr.write(`pretrain: ${family}: wrote ${file} and its card (accuracy@0.5 ${L.accuracy.toFixed(3)})\n`);
    done[family] = card;
  }
  return { models: done };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).then(
    () => undefined,
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
