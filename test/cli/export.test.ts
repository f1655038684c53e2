/** The real `sparsecell export` executable: train (CLI) -> export as a bioimage.io package -> import; errors. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBlobs, sparsify } from '../../scripts/synthetic.js';
import { encodeTiff } from '../../server/imaging/tiff.js';
import { createModel, deserializeModel, disposeModel, serializeModel } from '../../server/models/segmentation-model.js';
import { getUNetWeights } from '../../server/models/unet/unet.js';
import { importPackage, packageTestTensors, readPackage } from '../../server/bioimageio/package.js';
import { useBackend } from '../tensor/helpers.js';

const MAIN_JS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'server', 'main.js');

function sparsecell(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_JS, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('cli: sparsecell export', function () {
  this.timeout(120000);
  let dir: string;
  const p = (...a: string[]) => join(dir, ...a);

  before(async () => {
    await useBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-export-'));
    mkdirSync(p('images'));
    mkdirSync(p('labels'));
    const s = makeBlobs({ height: 80, width: 88, count: 8, seed: 4 });
    const u8 = Uint8Array.from(s.image.data, (v) => Math.max(0, Math.min(255, Math.round(v * 255))));
    writeFileSync(p('images', 'a.tif'), encodeTiff({ dtype: 'uint8', height: 80, width: 88, data: u8 }));
    writeFileSync(p('labels', 'a.tif'), encodeTiff({ dtype: 'int32', height: 80, width: 88, data: sparsify(s.labels, (id) => id % 2 === 1).data }));
    const r = await sparsecell([
      'train',
      '--images',
      p('images'),
      '--labels',
      p('labels'),
      '--config',
      '{"unetDepth":2,"unetFilters":8}',
      '--steps',
      '3',
      '--patch',
      '32',
      '--batch',
      '1',
      '--out',
      p('model.scm'),
    ]);
    expect(r.code, r.stderr).to.equal(0);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes a bioimage.io package from a trained model (stored test crop, or --image/--labels) that imports back', async () => {
    let r = await sparsecell([
      'export',
      '--model',
      p('model.scm'),
      '--format',
      'bioimageio',
      '--out',
      p('out', 'model.zip'),
      '--authors',
      'A. One; B. Two',
      '--name',
      'cli test model',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const zip = new Uint8Array(readFileSync(p('out', 'model.zip')));
    const { rdf, config, files } = readPackage(zip, 1 << 28);
    expect(rdf.name).to.equal('cli test model');
    expect((rdf.authors as { name: string }[]).map((a) => a.name)).to.deep.equal(['A. One', 'B. Two']);
    expect(config.training).to.include({ steps: 3, images: 1, objects: 4 });
    const t = packageTestTensors(files);
    expect(t.input.shape).to.deep.equal([1, 1, 80, 80]); // the largest square crop of the 80x88 image
    expect(new TextDecoder().decode(files.get('README.md'))).to.contain('| training steps | 3 |');

    const orig = deserializeModel(new Uint8Array(readFileSync(p('model.scm'))));
    const back = importPackage(zip, 1 << 28);
    expect(back.family.name).to.equal(orig.family.name);
    expect(back.config).to.deep.equal(orig.config);
    const [wa, wb] = [getUNetWeights(orig.unet), getUNetWeights(back.unet)];
    expect(wa.length).to.equal(wb.length);
    wa.forEach((t0, i) => expect(Array.from(wb[i].data)).to.deep.equal(Array.from(t0.data)));
    disposeModel(orig);
    disposeModel(back);

    r = await sparsecell(['export', '--model', p('model.scm'), '--image', p('images', 'a.tif'), '--labels', p('labels', 'a.tif'), '--out', p('out', 'b.zip')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(readPackage(new Uint8Array(readFileSync(p('out', 'b.zip'))), 1 << 28).config.family).to.equal('stardist');

    r = await sparsecell(['export', '--model', p('model.scm'), '--format', 'sparsecell', '--out', p('out', 'copy.scm')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(Buffer.compare(readFileSync(p('out', 'copy.scm')), readFileSync(p('model.scm')))).to.equal(0);
  });

  it('exits 2 with a clear message on bad arguments', async () => {
    const bare = createModel('cellpose', { unetDepth: 1, unetFilters: 4 });
    writeFileSync(p('bare.scm'), serializeModel(bare));
    disposeModel(bare);
    const cases: Array<[string[], RegExp]> = [
      [['--model', p('bare.scm'), '--out', p('x.zip')], /--image is required: this model keeps no test image/],
      [['--model', p('model.scm'), '--out', p('x.zip'), '--format', 'onnx'], /--format/],
      [['--model', p('nope.scm'), '--out', p('x.zip')], /--model: file not found/],
      [['--model', p('model.scm'), '--out', p('x.zip'), '--labels', p('labels', 'a.tif')], /--labels needs --image/],
      [['--model', p('model.scm'), '--out', p('x.zip'), '--name', 'a/b/c/d'], /name must be/],
      [['--model', p('model.scm'), '--out', p('x.zip'), '--license', 'My-License'], /--license/],
    ];
    for (const [args, re] of cases) {
      const r = await sparsecell(['export', ...args]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(re);
    }
  });
});
