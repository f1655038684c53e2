import { expect } from 'chai';
import { axisTiles, extractWindow, pasteCore, reflectIndex, tileGrid } from '../../server/imaging/tiling.js';

describe('tiling geometry', () => {
  it('cores partition the axis, windows stay inside the padded axis and are divisor-aligned', () => {
    for (const length of [1, 7, 8, 63, 64, 65, 100, 257, 1000])
      for (const [tileSize, overlap, divisor] of [[64, 16, 8], [32, 8, 4], [128, 24, 8]]) {
        const { padded, tiles } = axisTiles(length, { tileSize, overlap, divisor });
        expect(padded % divisor).to.equal(0);
        expect(padded).to.be.at.least(length);
        let next = 0;
        for (const t of tiles) {
          expect(t.coreStart).to.equal(next);
          next = t.coreEnd;
          expect(t.start % divisor).to.equal(0);
          expect(t.size % divisor).to.equal(0);
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

  it('rejects a tile size that leaves no core', () => {
    expect(() => axisTiles(1000, { tileSize: 32, overlap: 16, divisor: 8 })).to.throw(/no core/);
  });

  it('reflect index, window extraction and paste reassemble the image', () => {
    expect([-2, -1, 0, 1, 2, 3, 4].map((i) => reflectIndex(i, 3))).to.deep.equal([2, 1, 0, 1, 2, 1, 0]);
    const H = 37, W = 53, C = 2;
    const img = { height: H, width: W, channels: C, data: Float32Array.from({ length: H * W * C }, (_, i) => i) };
    const grid = tileGrid(H, W, { tileSize: 24, overlap: 4, divisor: 4 });
    expect(grid.tiles.length).to.be.greaterThan(4);
    const out = { height: H, width: W, channels: C, data: new Float32Array(H * W * C).fill(-1) };
    for (const t of grid.tiles) pasteCore(out, extractWindow(img, t.y.start, t.x.start, t.y.size, t.x.size), t);
    expect(Array.from(out.data)).to.deep.equal(Array.from(img.data));
  });
});
