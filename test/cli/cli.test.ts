/**
 * The real `sparsecell` executable (the compiled server/main.js next to this compiled test) on a tiny synthetic
 * dataset in a temp folder: train -> predict -> evaluate, plus argument errors (exit code 2, clear message); and
 * `study --report-only` on a copy of a committed study's results.json.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { decodeTiff, encodeTiff } from '../../server/imaging/tiff.js';
import { readModelSpec } from '../../server/models/segmentation-model.js';
import { FIGURES } from '../../server/study/figures.js';
import { ROOT } from '../../scripts/codegen.js';
import { expectFigureFiles } from '../study/figure-checks.js';

const MAIN_JS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'server', 'main.js');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sparsecell(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_JS, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const SIZES: Array<[number, number]> = [
  [64, 64],
  [48, 80],
  [72, 56],
];

describe('cli: sparsecell train / predict / evaluate', function () {
  this.timeout(120000);
  let dir: string;
  const images = () => join(dir, 'images');
  const sparse = () => join(dir, 'sparse');
  const offset1 = () => join(dir, 'offset1');
  const masks = () => join(dir, 'masks');
  const model = () => join(dir, 'out', 'model.scm');
  const pred = () => join(dir, 'pred');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-cli-'));
    for (const d of [images(), sparse(), offset1(), masks()]) mkdirSync(d);
    SIZES.forEach(([h, w], i) => {
      const s = makeBlobs({ height: h, width: w, count: 8, seed: 10 + i });
      const sp = sparsify(
        s.labels,
        (id) => id % 2 === 1,
        (y) => y < h / 2,
      );
      const name = `img${i}.tif`;
      const u8 = Uint8Array.from(s.image.data, (v) => Math.max(0, Math.min(255, Math.round(v * 255))));
      writeFileSync(join(images(), name), encodeTiff({ dtype: 'uint8', height: h, width: w, data: u8 }));
      writeFileSync(join(masks(), name), encodeTiff({ dtype: 'uint16', height: h, width: w, data: Uint16Array.from(s.labels.data) }));
      writeFileSync(join(sparse(), name), encodeTiff({ dtype: 'int32', height: h, width: w, data: sp.data }));
      writeFileSync(join(offset1(), name), encodeTiff({ dtype: 'uint16', height: h, width: w, data: Uint16Array.from(sp.data, (v) => v + 1) }));
    });
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('train writes a model archive (signed sparse labels)', async () => {
    const r = await sparsecell([
      'train',
      '--images',
      images(),
      '--labels',
      sparse(),
      '--config',
      '{"unetDepth":2,"unetFilters":8}',
      '--steps',
      '10',
      '--patch',
      '32',
      '--batch',
      '2',
      '--out',
      model(),
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(model())).to.equal(true);
    const spec = readModelSpec(new Uint8Array(readFileSync(model())));
    expect(spec.family).to.equal('stardist');
    expect(spec.unet.depth).to.equal(2);
    expect(spec.unet.filters).to.equal(8);
    expect((spec.meta.training as { steps: number }).steps).to.equal(10);
    // non-TTY stderr: plain progress lines, and a summary
    expect(r.stderr).to.match(/train .*\/10 steps/);
    expect(r.stderr).to.match(/wrote .*model\.scm/);
  });

  it('train refuses a patch side the network cannot take (grid x 2^depth), as the RPC methods do, instead of rounding it', async () => {
    const base = ['train', '--images', images(), '--labels', sparse(), '--steps', '1', '--batch', '1', '--out', join(dirname(model()), 'never.scm')];
    const r = await sparsecell([...base, '--config', '{"unetDepth":2,"unetFilters":8,"grid":2}', '--patch', '36']);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/--patch 36 must be a multiple of 8/);
    const d = await sparsecell([...base, '--config', '{"unetDepth":3,"unetFilters":8}', '--patch', '36']);
    expect(d.stderr).to.match(/--patch 36 must be a multiple of 8/);
    expect(existsSync(join(dirname(model()), 'never.scm'))).to.equal(false);
  });

  it('train reads offset1 labels and honours --time-limit', async () => {
    const out = join(dir, 'out', 'offset1.scm');
    const r = await sparsecell([
      'train',
      '--images',
      images(),
      '--labels',
      offset1(),
      '--encoding',
      'offset1',
      '--family',
      'elephant',
      '--config',
      '{"unetDepth":2,"unetFilters":8}',
      '--time-limit',
      '1',
      '--patch',
      '32',
      '--batch',
      '1',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const spec = readModelSpec(new Uint8Array(readFileSync(out)));
    expect(spec.family).to.equal('elephant');
    expect((spec.meta.training as { stoppedBy: string }).stoppedBy).to.equal('time');
  });

  it('predict writes one label TIFF per image with the image shape, and polygons', async () => {
    const r = await sparsecell(['predict', '--model', model(), '--images', images(), '--out', pred(), '--polygons', '--prob-thresh', '0.4']);
    expect(r.code, r.stderr).to.equal(0);
    SIZES.forEach(([h, w], i) => {
      const t = decodeTiff(new Uint8Array(readFileSync(join(pred(), `img${i}.tif`))));
      expect([t.height, t.width, t.channels, t.pages]).to.deep.equal([h, w, 1, 1]);
      expect(['uint16', 'int32']).to.include(t.dtype);
      const polys = JSON.parse(readFileSync(join(pred(), `img${i}.polygons.json`), 'utf8')) as Array<{ id: number; points: number[][] }>;
      expect(polys).to.be.an('array');
      const ids = new Set(Array.from(t.data).filter((v) => v > 0));
      for (const p of polys) expect(p.points[0]).to.have.length(2);
      expect(ids.size).to.be.at.most(polys.length);
    });
    expect(readdirSync(pred()).filter((f) => f.endsWith('.tif'))).to.have.length(SIZES.length);
    expect(r.stderr).to.match(/predict .*3\/3 images/);
  });

  it('evaluate prints a parseable table per threshold and writes JSON', async () => {
    const json = join(dir, 'eval.json');
    const r = await sparsecell(['evaluate', '--pred', pred(), '--gt', masks(), '--thresh', '0.1,0.5,0.9', '--json', json]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'));
    const header = lines[0].trim().split(/\s+/);
    expect(header).to.include.members(['thresh', 'tp', 'fp', 'fn', 'precision', 'recall', 'accuracy', 'f1', 'pq']);
    const rows = lines.slice(1).map((l) =>
      Object.fromEntries(
        l
          .trim()
          .split(/\s+/)
          .map((v, i) => [header[i], Number(v)]),
      ),
    );
    expect(rows.map((row) => row.thresh)).to.deep.equal([0.1, 0.5, 0.9]);
    for (const row of rows) {
      expect(row.n_true).to.equal(row.tp + row.fn);
      expect(row.n_pred).to.equal(row.tp + row.fp);
      expect(row.accuracy).to.be.within(0, 1);
    }
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.images).to.equal(3);
    expect(out.results).to.have.length(3);
    expect(out.perImage).to.have.length(3);
    expect(out.results[1].tp).to.equal(rows[1].tp);
  });

  it('evaluate of the ground truth against itself is perfect; sparse ground truth needs --sparse', async () => {
    const r = await sparsecell(['evaluate', '--pred', masks(), '--gt', masks()]);
    expect(r.code, r.stderr).to.equal(0);
    const [header, row] = r.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/));
    expect(Number(row[header.indexOf('accuracy')])).to.equal(1);
    const bad = await sparsecell(['evaluate', '--pred', masks(), '--gt', sparse()]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--sparse/);
    const ok = await sparsecell(['evaluate', '--pred', masks(), '--gt', offset1(), '--sparse', '--encoding', 'offset1']);
    expect(ok.code, ok.stderr).to.equal(0);
    const [h2, r2] = ok.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/));
    expect(Number(r2[h2.indexOf('accuracy')])).to.equal(1);
  });

  const BAD: Array<[string, string[], RegExp]> = [
    ['a missing required option', ['train', '--labels', '/nonexistent', '--out', 'x.scm'], /--images is required/],
    ['an unknown option', ['train', '--imgs', 'x'], /Unknown option '--imgs'/],
    ['a bad number', ['train', '--images', '.', '--labels', '.', '--out', 'x.scm', '--steps', 'ten'], /--steps must be an integer/],
    ['a bad family', ['train', '--images', '.', '--labels', '.', '--out', 'x.scm', '--family', 'unet'], /--family must be one of stardist/],
    ['a bad config field', ['train', '--images', '.', '--labels', '.', '--out', 'x.scm', '--config', '{"nRay":3}'], /config\.nRay/],
    ['config that is not JSON', ['train', '--images', '.', '--labels', '.', '--out', 'x.scm', '--config', '{unetDepth:2}'], /--config is not valid JSON/],
    ['a missing folder', ['predict', '--model', 'x.scm', '--images', '/nonexistent', '--out', '/tmp/x'], /--model: file not found/],
    ['a bad threshold', ['evaluate', '--pred', '.', '--gt', '.', '--thresh', '0.5,2'], /--thresh must be/],
    ['a missing --pred folder', ['evaluate', '--pred', '/nonexistent', '--gt', '.'], /--pred: folder not found/],
    ['a stray positional', ['predict', 'model.scm'], /unexpected argument "model\.scm"/],
  ];
  for (const [what, args, msg] of BAD) {
    it(`exits 2 with a clear message on ${what}`, async () => {
      const r = await sparsecell(args);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(msg);
      expect(r.stderr).to.match(/usage: sparsecell/);
    });
  }

  it('exits 2 on a bad SPARSECELL_BACKEND, and --help exits 0', async () => {
    const r = await sparsecell(['train', '--images', images(), '--labels', sparse(), '--out', join(dir, 'b.scm')], { SPARSECELL_BACKEND: 'gpu' });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/backend must be one of/);
    const h = await sparsecell(['predict', '--help']);
    expect(h.code).to.equal(0);
    expect(h.stdout).to.match(/usage: sparsecell predict/);
  });
});

describe('cli: sparsecell study --report-only', function () {
  this.timeout(60000);
  let tmp = '';
  const study = join(ROOT, 'bench', 'results', 'study-tensorflow');
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sparsecell-report-'));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('rewrites the tables and figures of a study folder from its results.json alone', async () => {
    copyFileSync(join(study, 'results.json'), join(tmp, 'results.json'));
    const before = readFileSync(join(tmp, 'results.json'), 'utf8');
    const r = await sparsecell(['study', '--report-only', '--out', tmp]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain('metrics-vs-k.png');
    expect(readFileSync(join(tmp, 'results.json'), 'utf8')).to.equal(before);
    for (const f of ['results.csv', 'results.md', ...FIGURES.flatMap(([, s]) => [`${s}.vl.json`, `${s}.svg`, `${s}.png`])])
      expect(existsSync(join(tmp, f)), f).to.equal(true);
    expect(readFileSync(join(tmp, 'results.csv'), 'utf8')).to.equal(readFileSync(join(study, 'results.csv'), 'utf8'));
    expectFigureFiles(tmp);
  });

  it('refuses a missing --out, training flags beside it, and a folder without results.json', async () => {
    const noOut = await sparsecell(['study', '--report-only']);
    expect(noOut.code).to.equal(2);
    expect(noOut.stderr).to.contain('--report-only needs --out');
    const extra = await sparsecell(['study', '--report-only', '--out', tmp, '--budget', '10']);
    expect(extra.code).to.equal(2);
    expect(extra.stderr).to.contain('--report-only takes only --out (got --budget)');
    const empty = mkdtempSync(join(tmpdir(), 'sparsecell-report-empty-'));
    try {
      const r = await sparsecell(['study', '--report-only', '--out', empty]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/results\.json does not exist/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
