import { expect } from 'chai';
import { rankSuggestions, labeledBlockFeatures, type RankedSuggestion } from '../../server/imaging/suggest.js';
import type { Image2D, Instances, Labels2D } from '../../server/imaging/types.js';

/**
 * A 128x128 view: dark background (0.1) with three clear round objects (1-3, 0.8) and one object (4) that the
 * flipped prediction splits in two (ambiguous: two touching blobs). Objects 1 and 2 and a background stroke on top
 * are labeled; the lower right quarter holds a bright textured area with no object predicted, far from every label.
 */
const H = 128,
  W = 128;
const disk = (cy: number, cx: number, r: number, f: (y: number, x: number) => void) => {
  for (let y = cy - r; y <= cy + r; y++) for (let x = cx - r; x <= cx + r; x++) if ((y - cy) ** 2 + (x - cx) ** 2 <= r * r) f(y, x);
};
const CENTRES: Array<[number, number]> = [
  [20, 20],
  [20, 50],
  [50, 20],
  [50, 50],
];

function scene(): { image: Image2D; labels: Labels2D; pred: Instances; tta: Instances[] } {
  const img = new Float32Array(H * W).fill(0.1);
  const pred = new Int32Array(H * W);
  const flipped = new Int32Array(H * W);
  const labels = new Int32Array(H * W).fill(-1);
  CENTRES.forEach(([cy, cx], i) =>
    disk(cy, cx, 6, (y, x) => {
      img[y * W + x] = 0.8;
      pred[y * W + x] = i + 1;
      // the flipped view agrees on 1-3 and splits object 4 into left and right halves
      flipped[y * W + x] = i < 3 ? i + 1 : x < cx ? 4 : 5;
    }),
  );
  disk(20, 20, 6, (y, x) => (labels[y * W + x] = 1));
  disk(20, 50, 6, (y, x) => (labels[y * W + x] = 2));
  for (let y = 0; y < 6; y++) for (let x = 0; x < 70; x++) labels[y * W + x] = 0;
  // bright textured area, bottom right
  for (let y = 88; y < 120; y++) for (let x = 88; x < 120; x++) img[y * W + x] = 0.7 + 0.2 * ((x + y) % 2);
  const poly = (i: number) => ({ id: i + 1, score: 0.95, points: [[CENTRES[i][0], CENTRES[i][1]]] as Array<[number, number]> });
  return {
    image: { height: H, width: W, channels: 1, data: img },
    labels: { height: H, width: W, data: labels },
    pred: { labels: { height: H, width: W, data: pred }, polygons: [0, 1, 2, 3].map(poly) },
    tta: [{ labels: { height: H, width: W, data: flipped }, polygons: [] }],
  };
}

const objectAt = (list: RankedSuggestion[], cy: number, cx: number) =>
  list.findIndex((s) => s.kind === 'object' && s.region[0] <= cy && cy < s.region[2] && s.region[1] <= cx && cx < s.region[3]);

describe('imaging: what to annotate next (rankSuggestions)', () => {
  it('ranks the object its flipped prediction disagrees on above the clear ones, as uncertain', () => {
    const s = scene();
    const out = rankSuggestions({ ...s, region: [0, 0, H, W], probThresh: 0.5 }, { count: 20 });
    const amb = objectAt(out, 50, 50),
      clear = objectAt(out, 50, 20);
    expect(amb, JSON.stringify(out)).to.be.at.least(0);
    expect(clear, 'the clear unlabeled object is still listed (low score)').to.be.at.least(0);
    expect(amb).to.be.lessThan(clear);
    expect(out[amb].reason).to.equal('uncertain');
    expect(out[amb].score).to.be.greaterThan(0.4); // IoU of a half with the whole is 0.5 at best
    expect(out[clear].score).to.be.lessThan(0.1);
  });

  it('with no flipped view, the ambiguous object is not singled out (the TTA reason is what finds it)', () => {
    const s = scene();
    const out = rankSuggestions({ ...s, tta: [], region: [0, 0, H, W], probThresh: 0.5 }, { count: 20, reasons: ['uncertain', 'near-threshold'] });
    const amb = out[objectAt(out, 50, 50)],
      clear = out[objectAt(out, 50, 20)];
    expect(amb.score).to.equal(clear.score);
  });

  it('suggests the unlabeled bright area far from the labels, as unlike-labeled', () => {
    const s = scene();
    const out = rankSuggestions({ ...s, region: [0, 0, H, W], probThresh: 0.5 }, { count: 20 });
    const areas = out.filter((q) => q.kind === 'area');
    expect(areas.length).to.be.at.least(1);
    const [y0, x0, y1, x1] = areas[0].region;
    expect(areas[0].reason).to.equal('unlike-labeled');
    // the best area overlaps the bright square
    expect(Math.min(y1, 120) - Math.max(y0, 88)).to.be.greaterThan(8);
    expect(Math.min(x1, 120) - Math.max(x0, 88)).to.be.greaterThan(8);
    expect(areas[0].score).to.be.greaterThan(0.5);
    // a dark, flat block far from the labels looks like the labeled background: it scores lower
    const dark = areas.find((q) => q.region[0] >= 64 && q.region[2] <= 88 + 8 && q.region[3] <= 64);
    if (dark) expect(dark.score).to.be.lessThan(areas[0].score / 2);
  });

  it('never suggests what is already labeled: labeled objects and labeled background blocks are left out', () => {
    const s = scene();
    // the area is labeled now: it must disappear; objects 1 and 2 are labeled from the start
    for (let y = 88; y < 120; y++) for (let x = 88; x < 120; x++) s.labels.data[y * W + x] = 0;
    const out = rankSuggestions({ ...s, region: [0, 0, H, W], probThresh: 0.5 }, { count: 50 });
    expect(out.length).to.be.greaterThan(0);
    expect(objectAt(out, 20, 20)).to.equal(-1);
    expect(objectAt(out, 20, 50)).to.equal(-1);
    for (const q of out) {
      let lab = 0,
        n = 0;
      for (let y = q.region[0]; y < q.region[2]; y++)
        for (let x = q.region[1]; x < q.region[3]; x++, n++)
          if (s.labels.data[y * W + x] >= 0 && (q.kind === 'area' || s.pred.labels.data[y * W + x] > 0)) lab++;
      expect(lab / n, JSON.stringify(q)).to.be.at.most(0.1);
    }
    // an object with only a few labeled pixels (within the allowed fraction) is still suggested
    s.labels.data[50 * W + 20] = 0;
    expect(objectAt(rankSuggestions({ ...s, region: [0, 0, H, W], probThresh: 0.5 }, { count: 50 }), 50, 20)).to.be.at.least(0);
  });

  it('objects only a flipped view found are suggested as uncertain; near-threshold objects rank by their margin', () => {
    const s = scene();
    const missed = new Int32Array(H * W);
    missed.set(s.tta[0].labels.data);
    disk(100, 30, 5, (y, x) => (missed[y * W + x] = 9)); // found only in the flipped view
    s.tta = [{ labels: { height: H, width: W, data: missed }, polygons: [] }];
    s.pred.polygons[2].score = 0.52; // object 3 barely above the threshold
    const out = rankSuggestions({ ...s, region: [0, 0, H, W], probThresh: 0.5 }, { count: 20, reasons: ['uncertain', 'near-threshold'] });
    const m = out[objectAt(out, 100, 30)];
    expect(m.reason).to.equal('uncertain');
    expect(m.score).to.equal(1);
    const near = out[objectAt(out, 50, 20)];
    expect(near.reason).to.equal('near-threshold');
    expect(near.score).to.be.greaterThan(0.7);
  });

  it('labeledBlockFeatures describes only blocks with labeled pixels', () => {
    const s = scene();
    const ref = labeledBlockFeatures(s.image, s.labels, 32);
    expect(ref.length).to.be.greaterThan(0);
    for (const b of ref) expect(b.y0).to.be.lessThan(64);
  });
});
