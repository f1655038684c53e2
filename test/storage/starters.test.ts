/** The starter-model registry (server/storage/starters.ts) on temp folders: what it offers and what it skips, and why. */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StarterRegistry, sha256Hex } from '../../server/storage/starters.js';

const bytes = new Uint8Array([1, 2, 3, 4, 5]);
const card = (over: Record<string, unknown> = {}) => ({
  name: 'nuclei',
  family: 'stardist',
  description: 'd',
  file: 'models/nuclei-stardist.scm',
  sha256: sha256Hex(bytes),
  scores: { accuracy05: 0.8, f1: 0.9, pq: 0.7 },
  ...over,
});

describe('storage: starter registry', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-reg-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('offers a card whose archive matches its sha256, and reads the archive', () => {
    writeFileSync(join(dir, 'nuclei-stardist.scm'), bytes);
    writeFileSync(join(dir, 'nuclei-stardist.json'), JSON.stringify(card()));
    const reg = new StarterRegistry(dir);
    expect(reg.problems).to.deep.equal([]);
    expect(reg.list().map((e) => [e.card.name, e.card.family])).to.deep.equal([['nuclei', 'stardist']]);
    expect(reg.find('nuclei', 'cellpose')).to.equal(undefined);
    expect(Array.from(reg.read(reg.find('nuclei', 'stardist')!))).to.deep.equal([1, 2, 3, 4, 5]);
    // Replaced on disk after start-up: refused on read.
    writeFileSync(join(dir, 'nuclei-stardist.scm'), new Uint8Array([9]));
    expect(() => reg.read(reg.find('nuclei', 'stardist')!)).to.throw(/changed on disk/);
  });

  it('skips, with the reason, a missing archive, a sha256 mismatch, a bad card, a duplicate, and non-JSON', () => {
    writeFileSync(join(dir, 'nuclei-stardist.scm'), bytes);
    writeFileSync(join(dir, 'a-missing.json'), JSON.stringify(card({ file: 'models/gone.scm' })));
    writeFileSync(join(dir, 'b-sha.json'), JSON.stringify(card({ sha256: 'f'.repeat(64) })));
    writeFileSync(join(dir, 'c-family.json'), JSON.stringify(card({ family: 'unet' })));
    writeFileSync(join(dir, 'd-ok.json'), JSON.stringify(card()));
    writeFileSync(join(dir, 'e-dup.json'), JSON.stringify(card()));
    writeFileSync(join(dir, 'f-junk.json'), '{');
    const reg = new StarterRegistry(dir);
    expect(reg.list().map((e) => e.cardPath)).to.deep.equal([join(dir, 'd-ok.json')]);
    const why = Object.fromEntries(reg.problems.map((p) => [p.cardPath.slice(dir.length + 1), p.problem]));
    expect(why['a-missing.json']).to.match(/gone\.scm is missing/);
    expect(why['b-sha.json']).to.match(/sha256 .* the card says f{64}/);
    expect(why['c-family.json']).to.match(/family/);
    expect(why['e-dup.json']).to.match(/second stardist starter/);
    expect(why['f-junk.json']).to.match(/not JSON/);
  });

  it('a folder that does not exist is an empty registry', () => {
    const reg = new StarterRegistry(join(dir, 'nope'));
    expect([reg.list(), reg.problems]).to.deep.equal([[], []]);
  });
});
