/**
 * npm run bench -- class-balance [--images 120] [--strategies full,minmax-k4-bg,minmax-k1-bg]
 * How much of the ELEPHANT-like loss each class gets under ELEPHANT's per-pixel weights (1 / 10 / 10) when the labels
 * are dense or sparse (cellsparse strategies), on DSB2018 training images: the measurement behind the family's
 * class-share balance (README "Model families"). No training; counts of labeled pixels per class.
 */
import { join } from 'node:path';
import { loadDataset, listTiffs, sharedDataDir } from '../server/storage/dataset.js';
import { dsbSplit } from '../server/metrics/split.js';
import { imageSeed, parseStrategyId, simulateAnnotation } from '../server/study/strategies.js';
import { classMap } from '../server/models/elephant/targets.js';
import { ELEPHANT_DEFAULTS } from '../server/models/elephant/config.js';
import { flag, log } from './helpers.js';
import { RESULTS_DIR } from './run.js';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = flag(args, 'images', 120);
  const si = args.indexOf('--strategies');
  const ids = si >= 0 ? args[si + 1].split(',') : ['full', 'minmax-k4-bg', 'minmax-k1-bg'];
  const dsb = sharedDataDir(join(RESULTS_DIR, '..', '..'), 'dsb2018-train');
  if (!dsb) throw new Error('../shared/data/dsb2018-train is missing');
  const names = dsbSplit(listTiffs(join(dsb, 'images')), 0, 50).train.slice(0, n);
  const data = loadDataset(join(dsb, 'images'), join(dsb, 'masks'), 'signed', names);
  const w = ELEPHANT_DEFAULTS.classWeights;
  const strategies: Record<string, unknown> = {};
  for (const id of ids) {
    const counts = [0, 0, 0];
    let unlabeled = 0;
    for (const d of data) {
      const lab = simulateAnnotation(d.image, d.labels!, parseStrategyId(id), imageSeed(d.name, 0)).labels;
      for (const c of classMap(lab, ELEPHANT_DEFAULTS.centerRatio)) {
        if (c < 0) unlabeled++;
        else counts[c]++;
      }
    }
    const labeled = counts[0] + counts[1] + counts[2];
    const weighted = counts.map((c, i) => c * w[i]);
    const wsum = weighted.reduce((a, b) => a + b, 0);
    const r = {
      labeledFraction: labeled / (labeled + unlabeled),
      classFraction: { background: counts[0] / labeled, border: counts[1] / labeled, centre: counts[2] / labeled },
      lossShareWithWeights: { background: weighted[0] / wsum, border: weighted[1] / wsum, centre: weighted[2] / wsum },
    };
    log(
      `${id}: labeled ${(100 * r.labeledFraction).toFixed(1)} %; background ${(100 * r.classFraction.background).toFixed(1)} % of labeled pixels, ${(100 * r.lossShareWithWeights.background).toFixed(1)} % of the 1/10/10 loss`,
    );
    strategies[id] = r;
  }
  return { images: names.length, classWeights: w, centerRatio: ELEPHANT_DEFAULTS.centerRatio, strategies };
}
