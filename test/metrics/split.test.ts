import { expect } from 'chai';
import { dsbSplit } from '../../server/metrics/split.js';

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
});
