import { expect } from 'chai';
import type { Image2D, Labels2D } from '../../server/imaging/types.js';
import {
  BG_OFFSET,
  applyOffsetBackground,
  imageSeed,
  minMaxLabels,
  objectStats,
  parseStrategyId,
  selectObjects,
  simulateAnnotation,
  strategyId,
  studyGrid,
  totalCost,
  type Strategy,
} from '../../server/study/strategies.js';
import { makeBlobs } from '../../scripts/synthetic.js';

const H = 30,
  W = 40;

/** Hand-made mask: squares with known intensities plus degenerate objects (zero minor axis). */
function fixture(): { image: Image2D; dense: Labels2D } {
  const lab = new Int32Array(H * W);
  const img = new Float32Array(H * W).fill(0.01);
  const put = (id: number, v: number, pix: Array<[number, number]>) => {
    for (const [y, x] of pix) {
      lab[y * W + x] = id;
      img[y * W + x] = v;
    }
  };
  const sq = (y0: number, x0: number, s: number) => {
    const p: Array<[number, number]> = [];
    for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) p.push([y, x]);
    return p;
  };
  put(1, 0.5, sq(12, 12, 3));
  put(2, 0.2, sq(20, 30, 3));
  put(3, 0.9, sq(2, 2, 3)); // near the top-left border: its BG copy is clipped to (0, 0); object 1's BG copy lands on it
  put(4, 0.7, sq(24, 5, 3));
  put(5, 0.0, [[15, 25]]); // single pixel: zero minor axis, skipped although dimmest
  put(6, 1.0, [
    [27, 20],
    [27, 21],
    [27, 22],
    [27, 23],
    [27, 24],
  ]); // horizontal line: skipped although brightest
  put(7, 0.3, sq(5, 33, 2));
  put(8, 0.05, [
    [8, 25],
    [9, 26],
    [10, 27],
  ]); // diagonal line: skipped
  put(9, 0.6, sq(2, 12, 3));
  return { image: { height: H, width: W, channels: 1, data: img }, dense: { height: H, width: W, data: lab } };
}

const sparse = (ordering: 'minmax' | 'min' | 'max' | 'random', k: number, bg: 'none' | 'bg' | 'scribble' = 'none'): Strategy => ({
  kind: 'sparse',
  ordering,
  k,
  bg,
});

describe('study strategies (cellsparse to_sparse conventions)', () => {
  const { image, dense } = fixture();
  // Eligible objects ascending by mean intensity: 2 (0.2), 7 (0.3), 1 (0.5), 9 (0.6), 4 (0.7), 3 (0.9); n = 6.

  it('regionprops: minor axis length from second moments; zero for pixels and straight lines', () => {
    const s = new Map(objectStats(dense, image).map((o) => [o.id, o]));
    expect(s.get(1)!.minorAxisLength).to.be.closeTo(3.265986323710904, 1e-12); // skimage value for a 3x3 square
    expect(s.get(7)!.minorAxisLength).to.be.closeTo(2, 1e-12);
    expect(s.get(5)!.minorAxisLength).to.equal(0);
    expect(s.get(6)!.minorAxisLength).to.equal(0);
    expect(s.get(8)!.minorAxisLength).to.equal(0);
    expect(s.get(1)!.meanIntensity).to.be.closeTo(0.5, 1e-6);
    expect(s.get(6)!.area).to.equal(5);
  });

  it('exact kept ids for every k and ordering (kth clamped to n - 1, zero-minor-axis objects skipped)', () => {
    const stats = objectStats(dense, image);
    const expected: Record<string, number[]> = {
      'minmax-1': [2, 3],
      'minmax-2': [2, 3, 4, 7],
      'minmax-4': [1, 2, 3, 4, 7, 9],
      'minmax-16': [1, 2, 3, 4, 7, 9],
      'minmax-256': [1, 2, 3, 4, 7, 9],
      'min-1': [2, 7],
      'min-2': [1, 2, 7, 9],
      'min-4': [1, 2, 4, 7, 9],
      'min-16': [1, 2, 4, 7, 9],
      'max-1': [3, 4],
      'max-2': [1, 3, 4, 9],
      'max-4': [1, 3, 4, 7, 9],
      'max-64': [1, 3, 4, 7, 9],
    };
    for (const [key, ids] of Object.entries(expected)) {
      const [ordering, k] = key.split('-');
      expect(selectObjects(stats, ordering as 'min', Number(k)), key).to.deep.equal(ids);
      expect(simulateAnnotation(image, dense, sparse(ordering as 'min', Number(k))).keptIds, key).to.deep.equal(ids);
    }
  });

  it('numpy a[-0:] quirk: with one eligible object, min keeps none and max / minmax keep it', () => {
    const lab = new Int32Array(H * W);
    for (let y = 3; y < 7; y++) for (let x = 3; x < 7; x++) lab[y * W + x] = 4;
    lab[20 * W + 20] = 9; // single pixel, skipped
    const stats = objectStats({ height: H, width: W, data: lab }, image);
    expect(minMaxLabels(stats, 1)).to.deep.equal({ min: [], max: [4] });
    expect(selectObjects(stats, 'minmax', 4)).to.deep.equal([4]);
    expect(selectObjects(stats, 'min', 4)).to.deep.equal([]);
    expect(selectObjects(stats, 'max', 4)).to.deep.equal([4]);
    expect(selectObjects(objectStats({ height: H, width: W, data: new Int32Array(H * W) }, image), 'minmax', 1)).to.deep.equal([]);
  });

  it('random: seeded, min(2k, n) eligible objects, stable across calls', () => {
    const stats = objectStats(dense, image);
    const a = selectObjects(stats, 'random', 1, 5),
      b = selectObjects(stats, 'random', 1, 5);
    expect(a).to.deep.equal(b);
    expect(a).to.have.length(2);
    for (const id of a) expect([1, 2, 3, 4, 7, 9]).to.include(id);
    expect(selectObjects(stats, 'random', 2, 5)).to.have.length(4);
    expect(selectObjects(stats, 'random', 16, 5)).to.deep.equal([1, 2, 3, 4, 7, 9]);
    const seen = new Set(Array.from({ length: 20 }, (_, s) => selectObjects(stats, 'random', 1, s).join(',')));
    expect(seen.size).to.be.greaterThan(3);
  });

  it('kept objects are complete, everything else is -1 (no background without a BG rule)', () => {
    for (const s of [sparse('minmax', 1), sparse('min', 2), sparse('max', 4), sparse('random', 1)]) {
      const r = simulateAnnotation(image, dense, s, 3);
      const keep = new Set(r.keptIds);
      for (let i = 0; i < dense.data.length; i++) {
        const v = dense.data[i];
        expect(r.labels.data[i], strategyId(s)).to.equal(keep.has(v) ? v : -1);
      }
    }
  });

  it('bg: the kept objects shifted by (-10, -10), clipped at the border, on dense background only', () => {
    const r = simulateAnnotation(image, dense, sparse('minmax', 2, 'bg')); // keeps 2, 3, 4, 7
    const keep = new Set(r.keptIds);
    expect([...keep]).to.deep.equal([2, 3, 4, 7]);
    // Reference: brute force over kept pixels.
    const bg = new Set<number>();
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        if (!keep.has(dense.data[y * W + x])) continue;
        const j = Math.min(H - 1, Math.max(0, y + BG_OFFSET[0])) * W + Math.min(W - 1, Math.max(0, x + BG_OFFSET[1]));
        if (dense.data[j] === 0) bg.add(j);
      }
    for (let i = 0; i < dense.data.length; i++) {
      const v = dense.data[i];
      const want = keep.has(v) ? v : bg.has(i) ? 0 : -1;
      expect(r.labels.data[i], `pixel ${Math.floor(i / W)},${i % W}`).to.equal(want);
    }
    // Literal geometry: object 2 (rows 20..22, cols 30..32) -> background rows 10..12, cols 20..22.
    for (let y = 10; y <= 12; y++) for (let x = 20; x <= 22; x++) expect(r.labels.data[y * W + x]).to.equal(0);
    // Object 3 (rows 2..4, cols 2..4) is clipped onto the single pixel (0, 0).
    expect(r.labels.data[0]).to.equal(0);
    expect(r.labels.data[1]).to.equal(-1);
    expect(r.labels.data[W]).to.equal(-1);
    // Object 4 (rows 24..26, cols 5..7) -> rows 14..16, cols 0 (clipped from -5..-3).
    for (let y = 14; y <= 16; y++) expect(r.labels.data[y * W]).to.equal(0);
    expect(r.cost.backgroundPixelsLabeled).to.equal(bg.size);
    expect(bg.size).to.equal(9 + 1 + 3 + 2); // object 7 (rows 5..6, cols 33..34) -> (0, 23), (0, 24)
  });

  it('bg never overwrites an object: a BG copy landing on another object leaves it as it was', () => {
    // Object 1 (rows 12..14, cols 12..14) is copied onto rows 2..4, cols 2..4 = object 3.
    const all = simulateAnnotation(image, dense, sparse('minmax', 4, 'bg')); // keeps every eligible object
    for (let y = 2; y <= 4; y++) for (let x = 2; x <= 4; x++) expect(all.labels.data[y * W + x]).to.equal(3);
    const r = simulateAnnotation(image, dense, sparse('min', 2, 'bg')); // keeps 1, 2, 7, 9 (not 3)
    expect(r.keptIds).to.deep.equal([1, 2, 7, 9]);
    for (let y = 2; y <= 4; y++) for (let x = 2; x <= 4; x++) expect(r.labels.data[y * W + x]).to.equal(-1);
    const out: Labels2D = { height: H, width: W, data: Int32Array.from(dense.data, (v) => (v === 1 ? 1 : -1)) };
    applyOffsetBackground(out, dense);
    let n = 0;
    for (const v of out.data) if (v === 0) n++;
    expect(n).to.equal(0); // object 1's copy lies entirely on object 3
  });

  it('scribble: seeded strokes on dense background only; objects untouched', () => {
    const blobs = makeBlobs({ height: 96, width: 96, count: 12, seed: 4 });
    const s = sparse('minmax', 1, 'scribble');
    const a = simulateAnnotation(blobs.image, blobs.labels, s, imageSeed('img-a', 1));
    const b = simulateAnnotation(blobs.image, blobs.labels, s, imageSeed('img-a', 1));
    const c = simulateAnnotation(blobs.image, blobs.labels, s, imageSeed('img-b', 1));
    expect(Array.from(a.labels.data)).to.deep.equal(Array.from(b.labels.data));
    expect(Array.from(a.labels.data)).to.not.deep.equal(Array.from(c.labels.data));
    const keep = new Set(a.keptIds);
    let nBg = 0;
    for (let i = 0; i < a.labels.data.length; i++) {
      const d = blobs.labels.data[i],
        v = a.labels.data[i];
      if (d > 0) expect(v).to.equal(keep.has(d) ? d : -1);
      else {
        expect([0, -1]).to.include(v);
        if (v === 0) nBg++;
      }
    }
    expect(nBg).to.be.greaterThan(20);
    expect(nBg).to.be.lessThan(0.5 * 96 * 96);
  });

  it('full is the dense mask; cost fractions are sums over images', () => {
    const f = simulateAnnotation(image, dense, { kind: 'full' });
    expect(Array.from(f.labels.data)).to.deep.equal(Array.from(dense.data));
    expect(f.cost).to.include({ objectsKept: 9, objectsTotal: 9, pixelsLabeled: H * W, pixelsTotal: H * W });
    const m = simulateAnnotation(image, dense, sparse('minmax', 1));
    expect(m.cost).to.include({ objectsKept: 2, objectsTotal: 9, pixelsLabeled: 18, objectPixelsLabeled: 18, backgroundPixelsLabeled: 0 });
    const t = totalCost([f.cost, m.cost]);
    expect(t.fractionObjects).to.be.closeTo(11 / 18, 1e-12);
    expect(t.fractionPixels).to.be.closeTo((H * W + 18) / (2 * H * W), 1e-12);
  });

  it('grids and ids', () => {
    const d = studyGrid('default').map(strategyId);
    expect(d).to.have.length(11);
    expect(d).to.include.members(['full', 'minmax-k1-bg', 'minmax-k256-none']);
    const all = studyGrid('all');
    expect(all).to.have.length(4 * 3 * 5 + 1);
    for (const s of all) expect(parseStrategyId(strategyId(s))).to.deep.equal(s);
    expect(() => parseStrategyId('minmax-k0-bg')).to.throw();
    expect(() => parseStrategyId('best-k4-bg')).to.throw();
  });
});
