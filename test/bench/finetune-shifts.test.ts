/** The fine-tuning benchmark's domain shifts (bench/finetune.ts SHIFTS): what they do to an image and its labels. */
import { expect } from 'chai';
import { SHIFTS } from '../../bench/finetune.js';
import { makeBlobs } from '../../scripts/synthetic.js';

describe('bench: finetune domain shifts', () => {
  const b = makeBlobs({ height: 64, width: 48, count: 6, seed: 4 });
  const item = { name: 'x.tif', image: b.image, labels: b.labels };

  it('invert: dark objects on a bright background, labels unchanged', () => {
    const s = SHIFTS.invert(item);
    expect(s.labels).to.equal(item.labels);
    const mean = (inside: boolean) => {
      let sum = 0,
        n = 0;
      for (let i = 0; i < b.labels.data.length; i++)
        if (b.labels.data[i] > 0 === inside) {
          sum += s.image.data[i];
          n++;
        }
      return sum / n;
    };
    expect(mean(true)).to.be.below(mean(false));
    const max = Math.max(...b.image.data);
    expect(s.image.data[5]).to.be.closeTo(max - b.image.data[5], 1e-6);
  });

  it('zoom2: the central half at twice the size; objects twice as wide', () => {
    const s = SHIFTS.zoom2(item);
    expect([s.image.height, s.image.width, s.labels!.height, s.labels!.width]).to.deep.equal([64, 48, 64, 48]);
    // A pixel (y, x) of the zoomed labels comes from (16 + y/2, 12 + x/2) of the original.
    for (const [y, x] of [
      [0, 0],
      [10, 7],
      [63, 47],
      [31, 20],
    ])
      expect(s.labels!.data[y * 48 + x]).to.equal(b.labels.data[(16 + Math.floor(y / 2)) * 48 + 12 + Math.floor(x / 2)]);
    const area = (l: Int32Array, id: number) => l.filter((v) => v === id).length;
    // An object wholly inside the central half covers 4x the pixels after the 2x zoom.
    const inside = [...new Set(b.labels.data)].filter(
      (id) => id > 0 && b.labels.data.every((v, i) => v !== id || (Math.floor(i / 48) >= 16 && Math.floor(i / 48) < 48 && i % 48 >= 12 && i % 48 < 36)),
    );
    expect(inside.length, 'an object inside the crop').to.be.greaterThan(0);
    for (const id of inside) expect(area(s.labels!.data, id) / area(b.labels.data, id)).to.be.closeTo(4, 0.5);
  });
});
