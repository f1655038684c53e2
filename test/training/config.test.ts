import { expect } from 'chai';
import { parseTrainOptions, TRAIN_DEFAULTS } from '../../server/training/config.js';

describe('training options', () => {
  it('defaults, partial merge, augment shorthand', () => {
    expect(parseTrainOptions()).to.deep.equal({ ...TRAIN_DEFAULTS, augment: { ...TRAIN_DEFAULTS.augment } });
    const o = parseTrainOptions({ steps: 10, augment: { rot90: false } });
    expect(o.steps).to.equal(10);
    expect(o.augment).to.deep.equal({ flips: true, rot90: false, intensity: true });
    expect(parseTrainOptions({ augment: false }).augment).to.deep.equal({ flips: false, rot90: false, intensity: false });
  });
  it('names the bad field', () => {
    expect(() => parseTrainOptions({ steps: 0 })).to.throw(/train\.steps must be an integer/);
    expect(() => parseTrainOptions({ learningRate: 'x' })).to.throw(/train\.learningRate/);
    expect(() => parseTrainOptions({ bogus: 1 })).to.throw(/train\.bogus is not a training option/);
    expect(() => parseTrainOptions({ augment: { spin: true } })).to.throw(/augment\.spin/);
  });
});
