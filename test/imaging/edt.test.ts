import { expect } from 'chai';
import type { Labels2D } from '../../server/imaging/types.js';
import { edt, instanceEdt, normalizedInstanceEdt } from '../../server/imaging/edt.js';
import { makeBlobs, rng } from '../../scripts/synthetic.js';

function bruteEdt(mask: Uint8Array, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  for (let i = 0; i < H * W; i++) {
    if (!mask[i]) continue;
    let best = Infinity;
    for (let j = 0; j < H * W; j++) {
      if (mask[j]) continue;
      const dy = Math.floor(i / W) - Math.floor(j / W),
        dx = (i % W) - (j % W);
      best = Math.min(best, dy * dy + dx * dx);
    }
    out[i] = Math.sqrt(best);
  }
  return out;
}

describe('imaging/edt', () => {
  it('matches brute force on random masks', () => {
    const r = rng(3);
    for (const [H, W, p] of [
      [17, 23, 0.7],
      [1, 9, 0.5],
      [12, 1, 0.6],
      [30, 30, 0.95],
    ] as const) {
      const mask = Uint8Array.from({ length: H * W }, () => (r() < p ? 1 : 0));
      mask[0] = 0;
      const got = edt(mask, H, W),
        exp = bruteEdt(mask, H, W);
      for (let i = 0; i < H * W; i++) expect(got[i]).to.be.closeTo(exp[i], 1e-5);
    }
  });

  it('is +Infinity without any background pixel', () => {
    expect(Array.from(edt([1, 1, 1, 1], 2, 2))).to.deep.equal([Infinity, Infinity, Infinity, Infinity]);
  });

  it('per-instance EDT: distance to the nearest pixel with another value; border is not background', () => {
    const { labels } = makeBlobs({ height: 40, width: 40, count: 8, seed: 2 });
    // add an unlabeled stripe touching objects and an object cut by the border
    for (let y = 0; y < 40; y++) labels.data[y * 40 + 20] = -1;
    for (let y = 0; y < 4; y++) for (let x = 0; x < 6; x++) labels.data[y * 40 + x] = 99;
    const d = instanceEdt(labels);
    const H = 40,
      W = 40;
    for (let i = 0; i < H * W; i++) {
      const v = labels.data[i];
      if (v <= 0) {
        expect(d[i]).to.equal(0);
        continue;
      }
      let best = Infinity;
      for (let j = 0; j < H * W; j++) {
        if (labels.data[j] === v) continue;
        const dy = Math.floor(i / W) - Math.floor(j / W),
          dx = (i % W) - (j % W);
        best = Math.min(best, Math.sqrt(dy * dy + dx * dx));
      }
      expect(d[i]).to.be.closeTo(best, 1e-5);
    }
  });

  it('normalised per-instance EDT peaks at 1 in every object', () => {
    const l: Labels2D = {
      height: 5,
      width: 7,
      data: Int32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 2, 0, 0, 1, 1, 1, 0, 2, 0, 0, 1, 1, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    };
    const p = normalizedInstanceEdt(l);
    expect(p[2 * 7 + 2]).to.be.closeTo(1, 1e-6);
    expect(p[1 * 7 + 1]).to.be.closeTo(0.5, 1e-6);
    expect(p[1 * 7 + 5]).to.be.closeTo(1, 1e-6);
    expect(p[3 * 7 + 4]).to.equal(0);
  });
});
