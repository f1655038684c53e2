import { expect } from 'chai';
import { normalizeImage, normalizeStack, percentiles, parseNormalization } from '../../server/imaging/normalize.js';
import { makeBlobs } from '../../scripts/synthetic.js';

describe('percentile normalisation', () => {
  it('percentiles match numpy linear interpolation', () => {
    // np.percentile(np.arange(11), [1, 99.8, 50]) -> [0.1, 9.98, 5]
    const [a, b, c] = percentiles(
      Float32Array.from({ length: 11 }, (_, i) => 10 - i),
      [1, 99.8, 50],
    );
    expect(a).to.be.closeTo(0.1, 1e-6);
    expect(b).to.be.closeTo(9.98, 1e-5);
    expect(c).to.equal(5);
  });

  it('normalises each channel independently', () => {
    const n = 1000;
    const data = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      data[2 * i] = i;
      data[2 * i + 1] = 1000 + 3 * i;
    }
    const out = normalizeImage({ height: 10, width: 100, channels: 2, data }, { pmin: 0, pmax: 100 });
    expect(out.data[0]).to.equal(0);
    expect(out.data[1]).to.equal(0);
    expect(out.data[2 * (n - 1)]).to.be.closeTo(1, 1e-6);
    expect(out.data[2 * (n - 1) + 1]).to.be.closeTo(1, 1e-6);
    expect(data[2]).to.equal(1); // input untouched
  });

  it('clip and validation', () => {
    const data = Float32Array.from({ length: 100 }, (_, i) => i);
    const out = normalizeImage({ height: 10, width: 10, channels: 1, data }, { pmin: 10, pmax: 90, clip: true });
    expect(Math.min(...out.data)).to.equal(0);
    expect(Math.max(...out.data)).to.equal(1);
    expect(() => parseNormalization({ pmin: 50, pmax: 40 })).to.throw(/pmin < pmax/);
  });

  it('a stack is normalised as one volume: an empty plane stays dark, a bright plane keeps its contrast', () => {
    const H = 32,
      W = 32;
    const blobs = makeBlobs({ height: H, width: W, count: 4, seed: 5 }); // background 0.1, objects 0.5..0.9, noise 0.03
    const empty = makeBlobs({ height: H, width: W, count: 0, seed: 6 }).image; // background and noise only
    const volume = [blobs.image, empty];
    const [a, b] = normalizeStack(volume);
    const max = (d: Float32Array) => d.reduce((m, v) => Math.max(m, v), -Infinity);
    // one pair of percentiles for both planes: plane 0 is normalised exactly as the concatenated volume
    const both = normalizeImage({ height: 2 * H, width: W, channels: 1, data: Float32Array.from([...blobs.image.data, ...empty.data]) });
    expect(Array.from(a.data)).to.deep.equal(Array.from(both.data.subarray(0, H * W)));
    expect(Array.from(b.data)).to.deep.equal(Array.from(both.data.subarray(H * W)));
    expect(max(a.data)).to.be.greaterThan(0.9);
    expect(max(b.data), 'the empty plane stays near the background level').to.be.lessThan(0.3);
    // plane by plane, the same empty plane's noise would be stretched to 0..1
    expect(max(normalizeImage(empty).data)).to.be.greaterThan(0.9);
    expect(normalizeStack([])).to.deep.equal([]);
  });
});
