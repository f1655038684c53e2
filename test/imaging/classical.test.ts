import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Image2D, Labels2D } from '../../server/imaging/types.js';
import { classicalSegment, otsuThreshold, reconstructByDilation, watershed } from '../../server/imaging/classical.js';
import { decodeTiff } from '../../server/imaging/tiff.js';
import { matching, matchingDataset } from '../../server/metrics/matching.js';
import { makeBlobs } from '../../scripts/synthetic.js';

const SHARED = fileURLToPath(new URL('../../../../shared/data/dsb2018-train/', import.meta.url));

describe('imaging/classical', () => {
  it('Otsu separates two modes', () => {
    const v = [...new Array(500).fill(0.1), ...new Array(300).fill(0.8)];
    const t = otsuThreshold(v);
    expect(t).to.be.greaterThan(0.1).and.lessThan(0.8);
  });

  it('reconstruction by dilation lowers a small peak and keeps a large one', () => {
    const f = Float32Array.from([0, 1, 0, 0, 5, 0]);
    const marker = f.map((v) => Math.max(0, v - 2));
    expect(Array.from(reconstructByDilation(marker, f, 1, 6))).to.deep.equal([0, 0, 0, 0, 3, 0]);
  });

  it('watershed splits two touching basins at the ridge', () => {
    const surface = Float32Array.from([0, 1, 2, 3, 2, 1, 0]);
    const markers = Int32Array.from([1, 0, 0, 0, 0, 0, 2]);
    const out = watershed(surface, markers, new Uint8Array(7).fill(1), 1, 7);
    expect(Array.from(out.slice(0, 3))).to.deep.equal([1, 1, 1]);
    expect(Array.from(out.slice(4))).to.deep.equal([2, 2, 2]);
  });

  it('finds the blobs of a synthetic image (accuracy@0.5 >= 0.9)', () => {
    for (const seed of [1, 2]) {
      const s = makeBlobs({ height: 96, width: 96, count: 20, seed });
      const out = classicalSegment(s.image);
      const m = matching(s.labels, out, 0.5);
      expect(m.accuracy, `seed ${seed}`).to.be.at.least(0.9);
    }
  });

  it('splits two touching discs', () => {
    const H = 40,
      W = 60;
    const img: Image2D = { height: H, width: W, channels: 1, data: new Float32Array(H * W).fill(0.1) };
    const gt: Labels2D = { height: H, width: W, data: new Int32Array(H * W) };
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const a = (y - 20) ** 2 + (x - 20) ** 2 <= 100,
          b = (y - 20) ** 2 + (x - 38) ** 2 <= 100;
        if (a || b) img.data[y * W + x] = 0.9;
        gt.data[y * W + x] = a && x <= 29 ? 1 : b ? 2 : a ? 1 : 0;
      }
    const out = classicalSegment(img, { sigma: 0 });
    const m = matching(gt, out, 0.5);
    expect([m.tp, m.n_pred]).to.deep.equal([2, 2]);
  });

  // Measured (h = 0.5, sigma = 1): pooled accuracy@0.5 0.646, by-image 0.754 on this 100-image sample.
  it('@slow DSB2018 baseline accuracy on a 100-image stride sample', function () {
    if (!existsSync(SHARED + 'index.tsv')) {
      this.skip();
      return;
    }
    const rows = readFileSync(SHARED + 'index.tsv', 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split('\t'));
    const step = Math.floor(rows.length / 100);
    const gts: Labels2D[] = [],
      preds: Labels2D[] = [];
    for (let k = 0; k < 100; k++) {
      const [name] = rows[k * step];
      const im = decodeTiff(readFileSync(`${SHARED}images/${name}.tif`));
      const m = decodeTiff(readFileSync(`${SHARED}masks/${name}.tif`));
      const img: Image2D = { height: im.height, width: im.width, channels: im.channels, data: Float32Array.from(im.data) };
      preds.push(classicalSegment(img));
      gts.push({ height: m.height, width: m.width, data: Int32Array.from(m.data) });
    }
    expect(matchingDataset(gts, preds, 0.5).accuracy).to.be.at.least(0.62);
  });
});
