import { expect } from 'chai';
import { normalizeImage, percentiles, parseNormalization } from '../../server/imaging/normalize.js';

describe('percentile normalisation', () => {
  it('percentiles match numpy linear interpolation', () => {
    // np.percentile(np.arange(11), [1, 99.8, 50]) -> [0.1, 9.98, 5]
    const [a, b, c] = percentiles(Float32Array.from({ length: 11 }, (_, i) => 10 - i), [1, 99.8, 50]);
    expect(a).to.be.closeTo(0.1, 1e-6);
    expect(b).to.be.closeTo(9.98, 1e-5);
    expect(c).to.equal(5);
  });

  it('normalises each channel independently', () => {
    const n = 1000;
    const data = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) { data[2 * i] = i; data[2 * i + 1] = 1000 + 3 * i; }
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
});
