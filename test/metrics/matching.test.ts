import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Labels2D } from '../../server/imaging/types.js';
import { matching, matchingDataset, matchingSparse, matchingWithPairs, solveAssignment, type MatchingCriterion } from '../../server/metrics/matching.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/matching/', import.meta.url));
type Enc = { height: number; width: number; data: number[] };
const dec = (e: Enc): Labels2D => ({ height: e.height, width: e.width, data: Int32Array.from(e.data) });
const load = (name: string) => JSON.parse(readFileSync(FIX + name, 'utf8'));

function expectClose(actual: Record<string, unknown>, expected: Record<string, unknown>, ctx: string): void {
  for (const [k, v] of Object.entries(expected)) {
    if (typeof v === 'number') {
      expect(actual[k], `${ctx} ${k}`).to.be.a('number');
      expect(Math.abs((actual[k] as number) - v), `${ctx} ${k}: ${actual[k]} vs ${v}`).to.be.at.most(1e-6);
    } else {
      expect(actual[k], `${ctx} ${k}`).to.equal(v);
    }
  }
}

describe('metrics/matching (stardist.matching reference)', () => {
  const fx = load('matching.json');

  for (const c of fx.cases) {
    for (const crit of ['iou', 'iot', 'iop'] as MatchingCriterion[]) {
      it(`${c.name} ${crit} equals stardist at thresholds 0.1..0.9`, () => {
        const got = matching(dec(c.y_true), dec(c.y_pred), fx.thresholds as number[], crit);
        const exp = c.results[crit] as Array<Record<string, unknown>>;
        expect(got).to.have.length(exp.length);
        got.forEach((g, i) => expectClose(g as unknown as Record<string, unknown>, exp[i], `${c.name}@${exp[i].thresh}`));
      });
    }
  }

  it('single threshold form equals the list form', () => {
    const c = fx.cases.find((x: { name: string }) => x.name === 'random_0');
    const one = matching(dec(c.y_true), dec(c.y_pred), 0.5);
    const exp = c.results.iou[4];
    expectClose(one as unknown as Record<string, unknown>, exp, 'random_0@0.5');
  });

  it('matchingDataset equals stardist.matching_dataset (pooled and by image)', () => {
    const ds = load('dataset.json');
    const gts = ds.cases.map((n: string) => dec(fx.cases.find((c: { name: string }) => c.name === n).y_true));
    const preds = ds.cases.map((n: string) => dec(fx.cases.find((c: { name: string }) => c.name === n).y_pred));
    const pooled = matchingDataset(gts, preds, ds.thresholds as number[], 'iou', false);
    pooled.forEach((g, i) => expectClose(g as unknown as Record<string, unknown>, ds.results.pooled[i], `pooled@${i}`));
    const byImage = matchingDataset(gts, preds, ds.thresholds as number[], 'iou', true);
    byImage.forEach((g, i) => expectClose(g as unknown as Record<string, unknown>, ds.results.by_image[i], `by_image@${i}`));
  });

  it('reports matched pairs with original ids', () => {
    const c = fx.cases.find((x: { name: string }) => x.name === 'identical_nonsequential');
    const { stats, pairs } = matchingWithPairs(dec(c.y_true), dec(c.y_pred), 0.5);
    expect(stats.tp).to.equal(3);
    expect(pairs.map((p) => [p.trueId, p.predId]).sort((a, b) => a[0] - b[0])).to.deep.equal([
      [3, 6],
      [17, 34],
      [1000, 2000],
    ]);
  });

  it('rejects -1 in the ground truth and mismatched shapes', () => {
    const a: Labels2D = { height: 1, width: 2, data: Int32Array.from([-1, 1]) };
    const b: Labels2D = { height: 1, width: 2, data: Int32Array.from([0, 1]) };
    expect(() => matching(a, b)).to.throw(/matchingSparse/);
    expect(() => matching(b, { height: 2, width: 1, data: Int32Array.from([0, 1]) })).to.throw(/different shapes/);
  });
});

describe('metrics/matching sparse variant', () => {
  const fx = load('sparse.json');
  for (const c of fx.cases) {
    for (const frac of ['0.5', '1.0']) {
      it(`${c.name} ignoreFraction=${frac} equals the Python reference`, () => {
        const got = matchingSparse(dec(c.y_true), dec(c.y_pred), fx.thresholds as number[], 'iou', { ignoreFraction: Number(frac) });
        got.forEach((g, i) => expectClose(g as unknown as Record<string, unknown>, c.results[frac][i], `${c.name}@${i}`));
      });
    }
  }

  it('equals matching when the ground truth has no unlabeled pixels', () => {
    const m = load('matching.json');
    for (const c of m.cases) {
      const a = matching(dec(c.y_true), dec(c.y_pred), m.thresholds as number[]);
      const b = matchingSparse(dec(c.y_true), dec(c.y_pred), m.thresholds as number[]);
      b.forEach((s, i) => {
        expect(s.n_ignored).to.equal(0);
        const { n_ignored: _ignored, ...rest } = s;
        expect(rest).to.deep.equal(a[i]);
      });
    }
  });

  it('a prediction lying on unlabeled pixels only is not a false positive', () => {
    const gt: Labels2D = {
      height: 4,
      width: 8,
      data: Int32Array.from([1, 1, 0, 0, -1, -1, -1, -1, 1, 1, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1]),
    };
    const pred: Labels2D = {
      height: 4,
      width: 8,
      data: Int32Array.from([1, 1, 0, 0, 0, 2, 2, 0, 1, 1, 0, 0, 0, 2, 2, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0]),
    };
    const s = matchingSparse(gt, pred, 0.5, 'iou', { ignoreFraction: 0.5 });
    expect([s.tp, s.fp, s.fn, s.n_ignored, s.n_pred]).to.deep.equal([1, 0, 0, 2, 1]);
    const strict = matchingSparse(gt, pred, 0.5, 'iou', { ignoreFraction: 1 });
    expect([strict.tp, strict.fp, strict.n_ignored]).to.deep.equal([1, 1, 1]);
  });
});

describe('metrics/matching assignment solver', () => {
  it('finds the optimum of small random problems (brute force)', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const perms = (n: number, m: number): number[][] => {
      const out: number[][] = [];
      const rec = (cur: number[]) => {
        if (cur.length === n) {
          out.push(cur.slice());
          return;
        }
        for (let j = 0; j < m; j++)
          if (!cur.includes(j)) {
            cur.push(j);
            rec(cur);
            cur.pop();
          }
      };
      rec([]);
      return out;
    };
    for (let t = 0; t < 50; t++) {
      const n = 1 + Math.floor(rnd() * 4),
        m = n + Math.floor(rnd() * 3);
      const cost = Float64Array.from({ length: n * m }, () => -Math.floor(rnd() * 3) - rnd());
      const sol = solveAssignment(cost, n, m);
      const val = Array.from(sol).reduce((a, j, i) => a + cost[i * m + j], 0);
      const best = Math.min(...perms(n, m).map((p) => p.reduce((a, j, i) => a + cost[i * m + j], 0)));
      expect(val).to.be.closeTo(best, 1e-12);
      expect(new Set(sol).size).to.equal(n);
    }
  });
});
