import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from '../tensor/helpers.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import { encodeTiff } from '../../server/imaging/tiff.js';
import { runSuggestStudy, suggestionPixels, type SuggestRun, type SuggestSummaryRow } from '../../server/study/suggest-study.js';

describe('study: which pixels the simulated person looks at for a suggestion', () => {
  it('an object suggestion: the pixels inside its polygon (where the object is), an area: its region', () => {
    // a square polygon far from the top-left corner: a flat-index list read as a mask would point at row 0 instead
    const obj = suggestionPixels(
      {
        kind: 'object',
        region: [20, 30, 26, 36],
        polygon: [
          [20, 30],
          [20, 35],
          [25, 35],
          [25, 30],
        ],
      },
      40,
      50,
    );
    expect(obj.length).to.be.within(16, 40);
    for (const p of obj) {
      const y = Math.floor(p / 50),
        x = p % 50;
      expect(y, `pixel ${p}`).to.be.within(20, 25);
      expect(x, `pixel ${p}`).to.be.within(30, 35);
    }
    const area = suggestionPixels({ kind: 'area', region: [2, 3, 4, 6] }, 40, 50);
    expect(area).to.deep.equal([103, 104, 105, 153, 154, 155]);
  });
});

describe('study: the suggested ordering against minmax and random (5 tiny synthetic images)', function () {
  this.timeout(300000);
  let dir = '';
  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-suggest-study-'));
    mkdirSync(join(dir, 'images'));
    mkdirSync(join(dir, 'masks'));
    for (let i = 0; i < 5; i++) {
      const b = makeBlobs({ height: 48, width: 48, count: 8, minRadius: 3, maxRadius: 6, seed: 200 + i });
      const name = `img${i}.tif`;
      writeFileSync(join(dir, 'images', name), encodeTiff({ dtype: 'float32', height: 48, width: 48, data: b.image.data }));
      writeFileSync(join(dir, 'masks', name), encodeTiff({ dtype: 'uint16', height: 48, width: 48, data: Uint16Array.from(b.labels.data) }));
    }
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reaches the object counts of minmax k at equal total steps, over seeds, and reports mean ± sd, the verdict and a figure', async () => {
    const out = join(dir, 'out');
    const events: string[] = [];
    const r = (await runSuggestStudy({
      imagesDir: join(dir, 'images'),
      masksDir: join(dir, 'masks'),
      outDir: out,
      seeds: [1, 2],
      ks: [2, 3],
      stepsPerRound: 2,
      roundsPerK: 2,
      holdout: 1,
      config: { unetDepth: 2, unetFilters: 8 },
      train: { patchSize: 32, batchSize: 2 },
      onEvent: (e) => events.push(`${e.type} ${e.ordering} ${e.k}`),
    })) as {
      runs: SuggestRun[];
      summary: SuggestSummaryRow[];
      verdict: Array<{ k: number; beatsMinmaxBeyondSpread: boolean }>;
      setup: Record<string, unknown>;
    };
    expect(r.runs).to.have.length(2 * 4 * 2); // seeds x orderings (suggested, minmax, random, suggested-rounds) x ks
    for (const k of [2, 3]) {
      const target = (r.setup.targets as Array<{ k: number; objects: number; steps: number }>).find((t) => t.k === k)!;
      // the 4 training images' minmax count at k (one image is held out for the test)
      expect(target.objects).to.be.greaterThan(0);
      expect(target.steps).to.equal(2 * (1 + 2 * (k - 1)));
      for (const run of r.runs.filter((q) => q.k === k)) {
        expect(run.steps, `${run.ordering} k${k}`).to.equal(target.steps); // equal training
        if (run.ordering !== 'random') expect(run.objects, `${run.ordering} k${k}`).to.equal(target.objects); // equal counts
        expect(run.atIoU05.thresh).to.equal(0.5);
      }
      const sug = r.runs.filter((q) => q.ordering.startsWith('suggested') && q.k === k);
      expect(sug).to.have.length(2 * 2);
      for (const s of sug) {
        const a = s.added!;
        const byReason = Object.values(a.byReason).reduce((x, y) => x + y, 0);
        // every object added came from a suggestion (by reason) or from the random fill-up
        expect(byReason + a.fallbackObjects).to.equal(s.objects - (r.setup.startObjects as number));
        expect(a.rounds).to.equal(k === 2 ? 2 : 4);
      }
    }
    const rows = r.summary;
    expect(rows.map((q) => `${q.ordering}-${q.k}`)).to.deep.equal([
      'suggested-2',
      'suggested-3',
      'minmax-2',
      'minmax-3',
      'random-2',
      'random-3',
      'suggested-rounds-2',
      'suggested-rounds-3',
    ]);
    // `suggested` retrains the labels the rounds reached: same objects as the in-rounds model, per seed and k
    for (const run of r.runs.filter((q) => q.ordering === 'suggested')) {
      const inRounds = r.runs.find((q) => q.ordering === 'suggested-rounds' && q.seed === run.seed && q.k === run.k)!;
      expect(run.objects).to.equal(inRounds.objects);
      expect(run.added).to.deep.equal(inRounds.added);
    }
    for (const q of rows) {
      expect(q.f1.n).to.equal(2);
      expect(q.f1.sd).to.be.at.least(0);
      expect(q.f1.min).to.be.at.most(q.f1.mean);
    }
    expect(r.verdict.map((v) => v.k)).to.deep.equal([2, 3]);
    expect(events.filter((e) => e.startsWith('round suggested'))).to.have.length(2 * 4);
    for (const f of ['suggest-study.json', 'suggest-study.vl.json', 'suggest-study.svg', 'suggest-study.png'])
      expect(existsSync(join(out, f)), f).to.equal(true);
    const json = JSON.parse(readFileSync(join(out, 'suggest-study.json'), 'utf8'));
    expect(json.summary).to.have.length(8);
    const spec = JSON.parse(readFileSync(join(out, 'suggest-study.vl.json'), 'utf8'));
    expect(spec.data.values).to.have.length(8);
    expect(readFileSync(join(out, 'suggest-study.svg'), 'utf8')).to.contain('<svg');
  });
});
