import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dsbSplit, holdOutValidation, trainValTestSplit } from '../../server/metrics/split.js';
import { ROOT } from '../../scripts/codegen.js';

describe('metrics/split', () => {
  const names = Array.from({ length: 200 }, (_, i) => `img${String(i).padStart(3, '0')}`);

  it('holds out a fixed, seeded, disjoint subset independent of the input order', () => {
    const a = dsbSplit(names, 0, 50);
    expect(a.test).to.have.length(50);
    expect(a.train).to.have.length(150);
    expect(new Set([...a.test, ...a.train]).size).to.equal(200);
    expect(a.test).to.deep.equal([...a.test].sort());
    const b = dsbSplit([...names].reverse(), 0, 50);
    expect(b).to.deep.equal(a);
    expect(dsbSplit(names, 1, 50).test).to.not.deep.equal(a.test);
    // pinned: changing the rule silently would make old benchmark numbers incomparable
    expect(a.test.slice(0, 3)).to.deep.equal(['img002', 'img005', 'img008']);
  });

  it('rejects a holdout larger than the data set', () => {
    expect(() => dsbSplit(['a', 'b'], 0, 3)).to.throw(/larger than the data set/);
  });

  it('train / validation / test (quality bench and study): disjoint, complete, test = the held-out part', () => {
    for (const [seed, holdout, val] of [
      [0, 50, 20],
      [3, 10, 0],
      [1, 199, 5],
    ]) {
      const s = trainValTestSplit(names, seed, holdout, val);
      const ref = dsbSplit(names, seed, holdout);
      expect(s.test).to.deep.equal(ref.test);
      expect(s.val).to.have.length(Math.min(val, ref.train.length - 1));
      expect(s.train.length).to.be.greaterThan(0);
      const parts = [s.train, s.val, s.test].map((p) => new Set(p));
      for (const p of [s.train, s.val, s.test]) expect(new Set(p).size, 'no repeats').to.equal(p.length);
      for (const [i, j] of [
        [0, 1],
        [0, 2],
        [1, 2],
      ])
        expect(
          [...parts[i]].filter((n) => parts[j].has(n)),
          `parts ${i} and ${j} overlap`,
        ).to.deep.equal([]);
      expect(s.train.length + s.val.length + s.test.length).to.equal(names.length);
      // validation is the END of dsbSplit's (shuffled) training part; training keeps its seeded order
      expect([...s.train, ...s.val]).to.deep.equal(ref.train);
    }
    expect(trainValTestSplit(names, 0, 50, 20).val.slice(0, 2)).to.deep.equal(dsbSplit(names, 0, 50).train.slice(130, 132));
  });

  it('validation leaves at least one training name and rejects a bad count', () => {
    expect(holdOutValidation(['a', 'b', 'c'], 5)).to.deep.equal({ train: ['a'], val: ['b', 'c'] });
    expect(holdOutValidation(['a'], 2)).to.deep.equal({ train: ['a'], val: [] });
    expect(holdOutValidation([], 2)).to.deep.equal({ train: [], val: [] });
    expect(() => holdOutValidation(['a', 'b'], -1)).to.throw(/val must be/);
  });

  it('the quality bench and the study take their split from trainValTestSplit (one rule)', () => {
    for (const rel of ['bench/quality.ts', 'server/study/run-study.ts']) {
      const imported = /import \{([^}]*)\} from '[./]+(server\/)?metrics\/split\.js'/.exec(readFileSync(join(ROOT, rel), 'utf8'));
      expect(
        imported?.[1].split(',').map((s) => s.trim()),
        rel,
      )
        .to.include('trainValTestSplit')
        .and.not.include('dsbSplit');
    }
  });
});
