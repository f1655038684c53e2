import { expect } from 'chai';
import type { Labels2D } from '../../server/imaging/types.js';
import {
  boundingBoxes,
  connectedComponents,
  countObjects,
  cropLabels,
  fillHoles,
  objectCounts,
  objectIds,
  offset1ToSigned,
  pasteLabels,
  relabelSequential,
  removeSmallObjects,
  signedToOffset1,
} from '../../server/imaging/labels.js';

const L = (h: number, w: number, v: number[]): Labels2D => ({ height: h, width: w, data: Int32Array.from(v) });

describe('imaging/labels', () => {
  it('offset1 <-> signed round trip', () => {
    const wire = Uint16Array.from([0, 1, 2, 3, 1, 0, 10, 2]);
    const s = offset1ToSigned(wire, 2, 4);
    expect(Array.from(s.data)).to.deep.equal([-1, 0, 1, 2, 0, -1, 9, 1]);
    expect(Array.from(signedToOffset1(s))).to.deep.equal(Array.from(wire));
    const u16 = signedToOffset1(s, new Uint16Array(8));
    expect(u16).to.be.instanceOf(Uint16Array);
    expect(Array.from(u16)).to.deep.equal(Array.from(wire));
  });

  it('offset1 conversions reject bad input', () => {
    expect(() => offset1ToSigned([0, 1, 2], 2, 2)).to.throw(/expected 2x2/);
    expect(() => offset1ToSigned([0, -1, 2, 1], 2, 2)).to.throw(/invalid value/);
    expect(() => signedToOffset1(L(1, 2, [-2, 0]))).to.throw(/invalid signed/);
    expect(() => signedToOffset1(L(1, 2, [300, 0]), new Uint8Array(2))).to.throw(/does not fit/);
  });

  it('ids, counts, bounding boxes', () => {
    const l = L(3, 4, [0, 5, 5, -1, 0, 5, 2, 2, 9, 0, 0, 2]);
    expect(objectIds(l)).to.deep.equal([2, 5, 9]);
    expect(countObjects(l)).to.equal(3);
    expect([...objectCounts(l)].sort((a, b) => a[0] - b[0])).to.deep.equal([
      [2, 3],
      [5, 3],
      [9, 1],
    ]);
    const bb = boundingBoxes(l);
    expect(bb.get(5)).to.deep.equal({ y0: 0, x0: 1, y1: 1, x1: 2, area: 3 });
    expect(bb.get(2)).to.deep.equal({ y0: 1, x0: 2, y1: 2, x1: 3, area: 3 });
  });

  it('relabels sequentially keeping -1 and 0', () => {
    const r = relabelSequential(L(1, 6, [0, 42, -1, 7, 42, 99]));
    expect(Array.from(r.labels.data)).to.deep.equal([0, 2, -1, 1, 2, 3]);
    expect(r.inverse).to.deep.equal([0, 7, 42, 99]);
  });

  it('connected components, 4 vs 8', () => {
    const m = [1, 0, 1, 0, 1, 0, 1, 0, 1];
    expect(connectedComponents(m, 3, 3, 4).count).to.equal(5);
    const c8 = connectedComponents(m, 3, 3, 8);
    expect(c8.count).to.equal(1);
    const u = connectedComponents([1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0], 3, 4, 4);
    expect(u.count).to.equal(3);
    expect(Array.from(u.labels.data)).to.deep.equal([1, 1, 0, 2, 0, 0, 2, 2, 3, 0, 0, 0]);
  });

  it('fills holes enclosed by one object only', () => {
    const l = L(5, 5, [0, 0, 0, 0, 0, 0, 3, 3, 3, 0, 0, 3, 0, 3, 0, 0, 3, 3, 3, 0, 0, 0, 0, 0, 0]);
    expect(fillHoles(l).data[12]).to.equal(3);
    const two = L(3, 5, [1, 1, 2, 2, 2, 1, 0, 0, 2, 2, 1, 1, 2, 2, 2]);
    expect(Array.from(fillHoles(two).data)).to.deep.equal(Array.from(two.data)); // hole touches two ids
  });

  it('removes small objects', () => {
    const l = L(1, 6, [1, 1, 1, 2, -1, 3]);
    expect(Array.from(removeSmallObjects(l, 2).data)).to.deep.equal([1, 1, 1, 0, -1, 0]);
  });

  it('crop and paste (clipped, -1 outside, overlay mode)', () => {
    const l = L(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const c = cropLabels(l, -1, 1, 3, 3);
    expect(Array.from(c.data)).to.deep.equal([-1, -1, -1, 2, 3, -1, 5, 6, -1]);
    const t = L(3, 3, [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    pasteLabels(t, L(2, 2, [7, -1, 8, 9]), 1, 2);
    expect(Array.from(t.data)).to.deep.equal([0, 0, 0, 0, 0, 7, 0, 0, 8]);
    pasteLabels(t, L(1, 2, [-1, 4]), 1, 1, true);
    expect(Array.from(t.data)).to.deep.equal([0, 0, 0, 0, 0, 4, 0, 0, 8]);
  });
});
