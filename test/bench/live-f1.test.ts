/** The live benchmark's score on objects the stream never labels (bench/live.ts f1NeverLabeled, f1At). */
import { expect } from 'chai';
import { f1At, f1NeverLabeled } from '../../bench/live.js';
import type { Labels2D } from '../../server/imaging/types.js';

/** 3 square objects on a 30x30 plane (ids 1..3), and optionally an extra object 4 on the background. */
function plane(ids: number[], extra = false): Labels2D {
  const data = new Int32Array(30 * 30);
  const box = (id: number, y0: number, x0: number) => {
    for (let y = y0; y < y0 + 6; y++) for (let x = x0; x < x0 + 6; x++) data[y * 30 + x] = id;
  };
  if (ids.includes(1)) box(1, 2, 2);
  if (ids.includes(2)) box(2, 2, 20);
  if (ids.includes(3)) box(3, 20, 2);
  if (extra) box(4, 20, 20);
  return { height: 30, width: 30, data };
}

describe('bench: live F1 on never-labeled objects', () => {
  const gt = plane([1, 2, 3]);
  it('leaves labeled objects out on both sides and counts the rest', () => {
    expect(f1NeverLabeled(gt, plane([1, 2, 3]), new Set([1]))).to.equal(1);
    expect(f1NeverLabeled(gt, plane([2, 3]), new Set([1]))).to.equal(1); // missing a labeled object costs nothing
    expect(f1NeverLabeled(gt, plane([1, 2]), new Set([1]))).to.be.closeTo(2 / 3, 1e-12); // tp 1, fn 1
    expect(f1NeverLabeled(gt, plane([1, 2, 3], true), new Set([1]))).to.be.closeTo(4 / 5, 1e-12); // fp 1
    expect(f1NeverLabeled(gt, plane([]), new Set([1]))).to.equal(0);
  });
  it('f1At is the last push at or before t', () => {
    const tr: Array<[number, number]> = [
      [1, 0.1],
      [20, 0.5],
      [40, 0.7],
    ];
    expect([f1At(tr, 0.5), f1At(tr, 1), f1At(tr, 30), f1At(tr, 75)]).to.deep.equal([undefined, 0.1, 0.5, 0.7]);
  });
});
