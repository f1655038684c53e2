import { expect } from 'chai';
import { autoBackground } from '../../server/imaging/auto-background.js';

describe('imaging: auto background', () => {
  // 21x21 image: a bright annotated object (centre), a dim unannotated neighbour (right), a bright unannotated one (left).
  const H = 21,
    W = 21;
  const img = new Float32Array(H * W).fill(0.1);
  const lab = new Int32Array(H * W).fill(-1);
  for (let y = 8; y <= 12; y++)
    for (let x = 8; x <= 12; x++) {
      img[y * W + x] = 0.9;
      lab[y * W + x] = 1;
    }
  for (let y = 9; y <= 11; y++) for (let x = 1; x <= 3; x++) img[y * W + x] = 0.9; // bright neighbour, 5 px away
  for (let y = 0; y < 3; y++) for (let x = 0; x < W; x++) lab[y * W + x] = 0; // a background stroke
  const out = autoBackground({ height: H, width: W, data: lab }, { height: H, width: W, channels: 1, data: img }, { gap: 2, width: 4 }).data;
  const at = (y: number, x: number) => out[y * W + x];

  it('labels a dark ring gap+1..gap+width pixels outside objects as background, nothing else', () => {
    expect(at(10, 15)).to.equal(0); // 3 px right of the object
    expect(at(10, 18)).to.equal(0); // 6 px right
    expect(at(10, 19)).to.equal(-1); // 7 px: outside the ring
    expect(at(10, 14)).to.equal(-1); // 2 px: inside the gap
    expect(at(10, 10)).to.equal(1); // the object itself is untouched
  });
  it('never turns bright pixels (a likely unannotated object) into background', () => {
    expect(at(10, 3)).to.equal(-1);
    expect(at(10, 4)).to.equal(0);
  });
  it("keeps the person's labels", () => {
    expect(at(0, 0)).to.equal(0);
    expect([...out].filter((v) => v === 1).length).to.equal(25);
  });
});
