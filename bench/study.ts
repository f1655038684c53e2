/**
 * `npm run bench -- study [options]`: the sparse-annotation study (same options as `sparsecell study`, see
 * server/cli/study.ts). Progress on stderr; the study's files go to --out (default study-results); the returned
 * object (written by bench/run.ts to bench/results/study.json) holds the setup and one row per cell.
 */
import { parseFlags } from '../server/cli/args.js';
import { STUDY_FLAGS, STUDY_USAGE, studyOptionsFromFlags, studyProgress, summarize } from '../server/cli/study.js';
import { runStudy } from '../server/study/run-study.js';
import { initBackend, type BackendPreference } from '../server/tensor/backend.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const f = parseFlags(args, STUDY_FLAGS);
  if (f.help) {
    process.stdout.write(STUDY_USAGE);
    return { help: true };
  }
  const opts = studyOptionsFromFlags(f);
  const info = await initBackend(((f.backend as string | undefined) ?? 'auto') as BackendPreference);
  const r = await runStudy({ ...opts, backend: info.name, onEvent: studyProgress() });
  process.stderr.write(summarize(r));
  return {
    backend: info,
    outDir: r.outDir,
    setup: r.setup,
    files: r.files,
    cells: r.cells.map((c) => ({
      id: c.id,
      fractionObjects: c.cost.fractionObjects,
      fractionPixels: c.cost.fractionPixels,
      steps: c.training.steps,
      precision: c.evaluation.atIoU05.precision,
      recall: c.evaluation.atIoU05.recall,
      accuracy: c.evaluation.atIoU05.accuracy,
      f1: c.evaluation.atIoU05.f1,
      panopticQuality: c.evaluation.atIoU05.panoptic_quality,
    })),
  };
}
