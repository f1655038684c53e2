/**
 * `sparsecell train --from nuclei` and `sparsecell predict --model nuclei` (built-in starter models by name) with the
 * real executable, SPARSECELL_MODELS_DIR pointing at a temp folder with a starter trained in this process.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sparsify } from '../../scripts/synthetic.js';
import { decodeTiff, encodeTiff } from '../../server/imaging/tiff.js';
import { readModelSpec } from '../../server/models/segmentation-model.js';
import { matching } from '../../server/metrics/matching.js';
import { RECIPE } from '../../server/recipe.js';
import { MAIN_JS } from '../helpers/daemon.js';
import { STARTER_THRESHOLDS, pretrainBlobs, testStarterDir } from '../helpers/starter.js';

function sparsecell(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_JS, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('cli: built-in starter models (train --from, predict --model NAME)', function () {
  this.timeout(300000);
  let dir: string, env: Record<string, string>, archivePath: string;
  const scenes = [901, 902].map((s) => pretrainBlobs(s, 96));

  before(async () => {
    const starters = await testStarterDir();
    env = { SPARSECELL_MODELS_DIR: starters.dir };
    archivePath = join(starters.dir, 'nuclei-stardist.scm');
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-cli-starter-'));
    for (const d of ['images', 'sparse']) mkdirSync(join(dir, d));
    scenes.forEach((s, i) => {
      const u8 = Uint8Array.from(s.image.data, (v) => Math.max(0, Math.min(255, Math.round(v * 255))));
      writeFileSync(join(dir, 'images', `img${i}.tif`), encodeTiff({ dtype: 'uint8', height: 96, width: 96, data: u8 }));
      writeFileSync(
        join(dir, 'sparse', `img${i}.tif`),
        encodeTiff({ dtype: 'int32', height: 96, width: 96, data: sparsify(s.labels, (id) => id % 2 === 1).data }),
      );
    });
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const labelsOf = (folder: string, i: number) => {
    const t = decodeTiff(new Uint8Array(readFileSync(join(dir, folder, `img${i}.tif`))));
    return { height: t.height, width: t.width, data: Int32Array.from(t.data) };
  };

  it('predict --model nuclei segments with the starter (zero-shot), the same as --model with its file', async () => {
    let r = await sparsecell(['predict', '--model', 'nuclei', '--images', join(dir, 'images'), '--out', join(dir, 'byname')], env);
    expect(r.code, r.stderr).to.equal(0);
    r = await sparsecell(['predict', '--model', archivePath, '--images', join(dir, 'images'), '--out', join(dir, 'byfile')], env);
    expect(r.code, r.stderr).to.equal(0);
    scenes.forEach((s, i) => {
      const byName = labelsOf('byname', i);
      expect(matching(s.labels, byName, 0.5).f1, `zero-shot F1 on image ${i}`).to.be.at.least(0.6);
      expect(Array.from(byName.data)).to.deep.equal(Array.from(labelsOf('byfile', i).data));
    });
  });

  it('train --from nuclei fine-tunes the starter with the recipe fine-tuning policy and keeps its thresholds', async () => {
    const out = join(dir, 'tuned.scm');
    const r = await sparsecell(
      [
        'train',
        '--from',
        'nuclei',
        '--images',
        join(dir, 'images'),
        '--labels',
        join(dir, 'sparse'),
        '--steps',
        '4',
        '--patch',
        '32',
        '--batch',
        '2',
        '--out',
        out,
      ],
      env,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/from starter nuclei/);
    const spec = readModelSpec(new Uint8Array(readFileSync(out)));
    expect(spec.unet.depth, 'the starter network, not the default one').to.equal(2);
    const training = spec.meta.training as { from: string; steps: number; options: Record<string, number> };
    expect(training.from).to.equal('starter nuclei');
    expect(training.steps).to.equal(4);
    expect(training.options).to.include({
      learningRate: RECIPE.finetune.learningRate,
      lrFinal: RECIPE.finetune.lrFinal,
      warmupSteps: RECIPE.finetune.warmupSteps,
      freezeEncoderSteps: RECIPE.finetune.freezeEncoderSteps,
    });
    expect(spec.meta.thresholds).to.include(STARTER_THRESHOLDS);
    // the starter adapted to the images from their labels first (bright objects: not inverted), and says so
    expect(r.stderr).to.match(/adapted to these images from 14 labeled objects/);
    expect(spec.meta.adapt).to.include({ invert: false });
    expect(spec.normalization.invert).to.equal(false);
  });

  it('refuses an unknown starter, --config with a starter, and a family without one (exit 2, saying what is installed)', async () => {
    const base = ['--images', join(dir, 'images'), '--labels', join(dir, 'sparse'), '--steps', '1', '--out', join(dir, 'x.scm')];
    let r = await sparsecell(['train', '--from', 'nope', ...base], env);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/"nope" is neither a file nor a built-in stardist starter model .*nuclei \(stardist\)/);
    r = await sparsecell(['train', '--from', 'nuclei', '--config', '{"unetDepth":2}', ...base], env);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--config cannot be combined with --from/);
    r = await sparsecell(['predict', '--model', 'nuclei', '--family', 'cellpose', '--images', join(dir, 'images'), '--out', join(dir, 'cp')], env);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/built-in cellpose starter/);
  });
});
