import { expect } from 'chai';
import { resizeImage, resizeLabels, unscalePolygons } from '../../server/imaging/resize.js';
import { modelScale, rescaleSample, unscaleInstances } from '../../server/training/rescale.js';

describe('imaging: resize and diameter rescaling', () => {
  it('bilinear resize keeps constants and linear ramps, nearest keeps label ids', () => {
    const ramp = { height: 4, width: 4, channels: 1, data: Float32Array.from({ length: 16 }, (_, i) => i % 4) };
    const up = resizeImage(ramp, 8, 8);
    expect(up.data[0]).to.equal(0);
    expect(up.data[7]).to.equal(3);
    for (let x = 1; x < 8; x++) expect(up.data[x]).to.be.at.least(up.data[x - 1]);
    const lab = { height: 2, width: 2, data: Int32Array.from([1, 2, -1, 0]) };
    expect([...resizeLabels(lab, 4, 4).data]).to.deep.equal([1, 1, 2, 2, 1, 1, 2, 2, -1, -1, 0, 0, -1, -1, 0, 0]);
  });

  it('modelScale is 30/diameter for configs with a diameter, 1 otherwise', () => {
    expect(modelScale({ config: { diameter: 15 } as never })).to.equal(2);
    expect(modelScale({ config: { nRays: 32 } as never })).to.equal(1);
  });

  it('a sample and its predictions go to the scaled grid and back', () => {
    const s = rescaleSample(
      {
        image: { height: 10, width: 6, channels: 1, data: new Float32Array(60) },
        labels: { height: 10, width: 6, data: new Int32Array(60).fill(3) },
        weightMultiplier: new Float32Array(60).fill(10),
      },
      2,
    );
    expect([s.image.height, s.image.width, s.labels.height, s.labels.width]).to.deep.equal([20, 12, 20, 12]);
    expect(s.weightMultiplier!.length).to.equal(240);
    const back = unscaleInstances(
      {
        labels: s.labels,
        polygons: [
          {
            id: 3,
            score: 1,
            points: [
              [-0.5, -0.5],
              [19.5, 11.5],
            ],
          },
        ],
      },
      2,
      10,
      6,
    );
    expect(back.labels.height).to.equal(10);
    expect(back.polygons[0].points).to.deep.equal([
      [-0.5, -0.5],
      [9.5, 5.5],
    ]);
    expect(unscalePolygons([], 2)).to.deep.equal([]);
  });

  it('correction weights are resized like the labels (nearest): a stroke keeps weight 10 exactly where its label goes', () => {
    const H = 12,
      W = 10;
    const labels = new Int32Array(H * W).fill(-1),
      wm = new Float32Array(H * W).fill(1);
    for (let y = 3; y < 8; y++)
      for (let x = 2; x < 5; x++) {
        labels[y * W + x] = 5;
        wm[y * W + x] = 10;
      } // a correction stroke
    for (let x = 0; x < W; x++) labels[10 * W + x] = 0; // an ordinary background stroke
    const image = { height: H, width: W, channels: 1, data: new Float32Array(H * W) };
    for (const s of [2.5, 1.5, 0.7]) {
      const r = rescaleSample({ image, labels: { height: H, width: W, data: labels }, weightMultiplier: wm }, s);
      const l = r.labels.data,
        w = r.weightMultiplier!;
      expect(w.length).to.equal(l.length);
      expect(
        l.some((v) => v === 5),
        `scale ${s}: the stroke survives`,
      ).to.equal(true);
      for (let i = 0; i < l.length; i++) expect(w[i], `scale ${s}, pixel ${i}`).to.equal(l[i] === 5 ? 10 : 1);
    }
  });
});
