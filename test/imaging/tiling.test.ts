import { expect } from 'chai';
import { axisTiles, computedPixels, extractWindow, pasteCore, reflectIndex, tileGrid } from '../../server/imaging/tiling.js';
import { defaultOverlap, defaultTileSize } from '../../server/training/predict.js';

describe('tiling geometry', () => {
  it('cores partition the axis, windows stay inside the padded axis and are divisor-aligned', () => {
    for (const length of [1, 7, 8, 63, 64, 65, 100, 257, 1000])
      for (const [tileSize, overlap, divisor] of [
        [64, 16, 8],
        [32, 8, 4],
        [128, 24, 8],
      ]) {
        const { padded, tiles } = axisTiles(length, { tileSize, overlap, divisor });
        expect(padded % divisor).to.equal(0);
        expect(padded).to.be.at.least(length);
        let next = 0;
        for (const t of tiles) {
          expect(t.coreStart).to.equal(next);
          next = t.coreEnd;
          expect(t.start % divisor).to.equal(0);
          expect(t.size % divisor).to.equal(0);
          expect(t.size).to.be.at.most(Math.max(tileSize, padded));
          expect(t.start).to.be.at.least(0);
          expect(t.start + t.size).to.be.at.most(padded);
          expect(t.coreStart).to.be.at.least(t.start);
          expect(t.coreEnd).to.be.at.most(t.start + t.size);
          // context: at least `overlap` on each side unless the window touches the padded border
          if (t.start > 0) expect(t.coreStart - t.start).to.be.at.least(overlap);
          if (t.start + t.size < padded) expect(t.start + t.size - t.coreEnd).to.be.at.least(overlap);
        }
        expect(next).to.equal(length);
      }
  });

  it('default tiling never computes more than 1.3x the pixels (U-Net depth 1-4, sides 16*2^depth to 6000)', () => {
    let worst = 0,
      tiled = 0;
    for (let depth = 1; depth <= 4; depth++) {
      const divisor = 2 ** depth,
        overlap = defaultOverlap(depth),
        tileSize = defaultTileSize(overlap);
      const sides: number[] = [];
      for (let L = 16 * divisor; L <= 6000; L += L < 600 ? 1 : 7) sides.push(L);
      for (const H of [16 * divisor, 1000, 2048, 2049, 2600, 4097, 6000]) {
        for (const W of sides) {
          const grid = tileGrid(H, W, { tileSize, overlap, divisor });
          if (grid.tiles.length > 1) tiled++;
          worst = Math.max(worst, computedPixels(grid) / (H * W));
        }
      }
    }
    expect(tiled).to.be.greaterThan(1000); // the bound is exercised on tiled images, not only single windows
    expect(worst).to.be.at.most(1.3);
    // The case: a 2048^2 image with the default depth-3 U-Net (overlap 64).
    const g = tileGrid(2048, 2048, { tileSize: defaultTileSize(64), overlap: 64, divisor: 8 });
    expect(g.tiles.length).to.equal(4);
    expect(computedPixels(g) / 2048 ** 2).to.be.at.most(1.15);
  });

  it('rejects a tile size that leaves no core', () => {
    expect(() => axisTiles(1000, { tileSize: 32, overlap: 16, divisor: 8 })).to.throw(/no core/);
  });

  it('reflect index, window extraction and paste reassemble the image', () => {
    expect([-2, -1, 0, 1, 2, 3, 4].map((i) => reflectIndex(i, 3))).to.deep.equal([2, 1, 0, 1, 2, 1, 0]);
    const H = 37,
      W = 53,
      C = 2;
    const img = { height: H, width: W, channels: C, data: Float32Array.from({ length: H * W * C }, (_, i) => i) };
    const grid = tileGrid(H, W, { tileSize: 24, overlap: 4, divisor: 4 });
    expect(grid.tiles.length).to.be.greaterThan(4);
    const out = { height: H, width: W, channels: C, data: new Float32Array(H * W * C).fill(-1) };
    for (const t of grid.tiles) pasteCore(out, extractWindow(img, t.y.start, t.x.start, t.y.size, t.x.size), t);
    expect(Array.from(out.data)).to.deep.equal(Array.from(img.data));
  });
});
