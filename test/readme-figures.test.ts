/**
 * README figures come from committed results (issue 13): the generated tables and inline values equal what
 * scripts/readme-figures.ts renders from the JSON, and every cited file is committed.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../scripts/codegen.js';
import { citedFiles, format, pointer, render } from '../scripts/readme-figures.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('README figures', () => {
  it('cites committed results for its measured figures', () => {
    const markers = [...readme.matchAll(/<!-- (v|table):/g)].length;
    expect(markers, 'README has no generated figures').to.be.greaterThan(10);
    const files = citedFiles(readme);
    expect(files.length).to.be.greaterThan(3);
    const git = spawnSync('git', ['ls-files', '--error-unmatch', ...files], { cwd: ROOT, encoding: 'utf8' });
    if (git.error || /not a git repository/.test(git.stderr)) return; // an unpacked tarball: existence was checked by citedFiles
    expect(git.status, `not committed: ${git.stderr}`).to.equal(0);
  });

  it('equals what the committed JSON gives (npm run readme regenerates it)', () => {
    const want = render(readme);
    if (want !== readme) {
      const a = readme.split('\n'),
        b = want.split('\n');
      const i = a.findIndex((l, k) => l !== b[k]);
      expect.fail(`README line ${i + 1} differs from the results:\n  README:  ${a[i]}\n  results: ${b[i]}\nrun \`npm run readme\``);
    }
  });

  it('notices a figure that disagrees with its JSON', () => {
    const m = /(<!-- v:[^ ]+ -->)([^<]*)(<!-- \/v -->)/.exec(readme)!;
    expect(m[2].length).to.be.greaterThan(0);
    const tampered = readme.replace(m[0], `${m[1]}${m[2]}9${m[3]}`);
    expect(render(tampered)).to.not.equal(tampered);
  });

  it('pointers and formats', () => {
    const doc = {
      a: [
        { thresh: 0.5, acc: 0.8431 },
        { thresh: 0.7, acc: 0.5 },
        { thresh: 0.5, k: 4, acc: 0.25 },
      ],
      b: { 'x/y': 3 },
    };
    expect(pointer(doc, '/a/[thresh=0.5]/acc')).to.equal(0.8431);
    expect(pointer(doc, '/a/[thresh=0.5,k=4]/acc')).to.equal(0.25); // every pair must match
    expect(() => pointer(doc, '/a/[thresh=0.7,k=4]/acc')).to.throw(/no value/);
    expect(pointer(doc, '/a/1/acc')).to.equal(0.5);
    expect(pointer(doc, '/b/x~1y')).to.equal(3);
    expect(() => pointer(doc, '/a/[thresh=0.9]/acc')).to.throw(/no value/);
    expect(format(0.8431, 'f3')).to.equal('0.843');
    expect(format(0.177, 'pct1')).to.equal('17.7 %');
    expect(format(6777.2, 'int')).to.equal('6,777');
    expect(format(0.904, 'x2')).to.equal('0.90×');
  });
});
