import { expect } from 'chai';
import { NMS_GRID, PROB_GRID } from '../../server/training/thresholds.js';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '../tensor/helpers.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import { encodeTiff } from '../../server/imaging/tiff.js';
import { runStudy, type StudyEvent } from '../../server/study/run-study.js';
import { run as studyCli } from '../../server/cli/study.js';
import { expectFigureFiles } from './figure-checks.js';

describe('study pipeline end to end (4 tiny synthetic images)', function () {
  this.timeout(120000);
  let dir = '';
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-study-'));
    mkdirSync(join(dir, 'images'));
    mkdirSync(join(dir, 'masks'));
    for (let i = 0; i < 4; i++) {
      const b = makeBlobs({ height: 48, width: 48, count: 6, minRadius: 3, maxRadius: 6, seed: 100 + i });
      const name = `img${i}.tif`;
      writeFileSync(join(dir, 'images', name), encodeTiff({ dtype: 'float32', height: 48, width: 48, data: b.image.data }));
      writeFileSync(join(dir, 'masks', name), encodeTiff({ dtype: 'uint16', height: 48, width: 48, data: Uint16Array.from(b.labels.data) }));
    }
  });
  /** The tiny study every test runs: 2 steps per cell of a small U-Net, one test and one validation image. */
  const tiny = (out: string, cells: string[]) => ({
    imagesDir: join(dir, 'images'),
    masksDir: join(dir, 'masks'),
    outDir: out,
    cells,
    holdout: 1,
    val: 1,
    budgetS: 2,
    maxSteps: 2,
    config: { unetDepth: 2, unetFilters: 8 },
    train: { patchSize: 32, batchSize: 2 },
    seed: 3,
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('trains and evaluates every cell, writes results.json/csv/md and the figures; a second run skips finished cells', async () => {
    const out = join(dir, 'out');
    const cells = ['full', 'minmax-k1-bg', 'minmax-k1-none', 'random-k1-scribble'];
    const events: StudyEvent[] = [];
    const r = await runStudy({ ...tiny(out, cells), onEvent: (e) => events.push(e) });
    expect(r.cells.map((c) => c.id)).to.deep.equal(cells);
    expect(r.skipped).to.deep.equal([]);
    expect(r.setup.trainSet.count).to.equal(2); // 4 images: 1 test, 1 validation (thresholds), 2 trained on
    expect(r.setup.testSet.count).to.equal(1);
    expect(r.setup.valSet.count).to.equal(1);
    expect(r.setup.perCellS).to.equal(0.5);
    for (const c of r.cells) {
      expect(c.training.steps).to.be.within(1, 2);
      expect(c.evaluation.curve.map((s) => s.thresh)).to.deep.equal([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
      expect(c.evaluation.atIoU05.thresh).to.equal(0.5);
      // thresholds chosen on the validation image from the grid; the default-threshold score is kept beside them
      expect(c.evaluation.thresholds.chosenOn).to.equal('1 validation images');
      expect(PROB_GRID).to.include(c.evaluation.thresholds.probThresh);
      expect(NMS_GRID).to.include(c.evaluation.thresholds.nmsThresh);
      expect(c.evaluation.defaultThresholdsAtIoU05?.thresh).to.equal(0.5);
      expect(c.cost.fractionObjects).to.be.within(0, 1);
    }
    const full = r.cells[0],
      k1 = r.cells[1];
    expect(full.cost.fractionObjects).to.equal(1);
    expect(full.cost.fractionPixels).to.equal(1);
    expect(k1.cost.objectsKept).to.be.lessThan(full.cost.objectsKept);
    expect(k1.cost.fractionPixels).to.be.greaterThan(r.cells[2].cost.fractionPixels); // BG adds labeled pixels
    expect(events.filter((e) => e.type === 'cell-done')).to.have.length(4);
    expect(events.some((e) => e.type === 'train')).to.equal(true);
    expect(events.filter((e) => e.type === 'tune')).to.have.length(4);

    for (const f of ['results.json', 'results.csv', 'results.md']) expect(existsSync(join(out, f)), f).to.equal(true);
    expect(readdirSync(join(out, 'cells')).sort()).to.deep.equal(cells.map((c) => `${c}.json`).sort());
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv).to.have.length(1 + cells.length);
    expect(csv[0].split(',')).to.include.members([
      'id',
      'fraction_objects',
      'fraction_pixels',
      'precision',
      'recall',
      'accuracy',
      'f1',
      'panoptic_quality',
      'f1_iou0.9',
    ]);
    expect(
      csv
        .slice(1)
        .map((l) => l.split(',')[0])
        .sort(),
    ).to.deep.equal([...cells].sort());
    for (const l of csv) expect(l.split(',')).to.have.length(csv[0].split(',').length);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).to.contain('| strategy |');
    expect(md.split('\n').filter((l) => /^\| (full|minmax|random)/.test(l))).to.have.length(4);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(json.cells).to.have.length(4);
    expect(json.setup.family).to.equal('stardist');
    expectFigureFiles(out); // .vl.json data = results.json, SVG and PNG drawn

    // Second run through the CLI entry: nothing is retrained.
    const before = readFileSync(join(out, 'cells', 'full.json'), 'utf8');
    const code = await studyCli(
      [
        '--images',
        join(dir, 'images'),
        '--masks',
        join(dir, 'masks'),
        '--out',
        out,
        '--cells',
        cells.join(','),
        '--budget',
        '2',
        '--max-steps',
        '2',
        '--config',
        '{"unetDepth":2,"unetFilters":8}',
        '--patch',
        '32',
        '--batch',
        '2',
        '--seed',
        '3',
        '--holdout',
        '1',
        '--val',
        '1',
        '--backend',
        'wasm',
      ],
      {},
    );
    expect(code).to.equal(0);
    expect(readFileSync(join(out, 'cells', 'full.json'), 'utf8')).to.equal(before);
    const again = await runStudy(tiny(out, cells));
    expect(again.skipped).to.deep.equal(cells);
    // A different setup in the same folder is refused.
    let err: Error | undefined;
    try {
      await runStudy({ ...tiny(out, cells), seed: 4 });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/different study setup/);
  });

  for (const family of ['cellpose', 'elephant']) {
    it(`runs for the ${family} family too (same cells, same outputs)`, async () => {
      const out = join(dir, `out-${family}`);
      const cells = ['full', 'minmax-k1-bg'];
      const r = await runStudy({ ...tiny(out, cells), family });
      expect(r.setup.family).to.equal(family);
      expect(r.cells.map((c) => c.id)).to.deep.equal(cells);
      for (const c of r.cells) expect(c.evaluation.atIoU05.thresh).to.equal(0.5);
      expect(existsSync(join(out, 'results.csv'))).to.equal(true);
    });
  }
});
