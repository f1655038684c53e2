import { expect } from 'chai';
import { parseTrainOptions, TRAIN_DEFAULTS } from '../../server/training/config.js';
import { scheduledLearningRate } from '../../server/recipe.js';

describe('training options', () => {
  it('defaults, partial merge, augment shorthand', () => {
    expect(parseTrainOptions()).to.deep.equal({ ...TRAIN_DEFAULTS, augment: { ...TRAIN_DEFAULTS.augment } });
    const o = parseTrainOptions({ steps: 10, augment: { rot90: false } });
    expect(o.steps).to.equal(10);
    // a step count runs to its last step: the recipe's 600-s budget is the default of a run given neither
    expect(o.timeLimitS).to.equal(0);
    expect(parseTrainOptions({ steps: 10, timeLimitS: 30 }).timeLimitS).to.equal(30);
    expect(parseTrainOptions({ learningRate: 1e-3 }).timeLimitS).to.equal(600);
    expect(o.augment).to.deep.equal({ flips: true, rot90: false, intensity: true });
    expect(parseTrainOptions({ augment: false }).augment).to.deep.equal({ flips: false, rot90: false, intensity: false });
  });
  it('the recipe: defaults, and a changed learning rate keeps the x0.2 drop; the schedule drops for the last 20 %', () => {
    const d = parseTrainOptions();
    expect([d.batchSize, d.patchSize, d.learningRate, d.lrFinal, d.finalFraction, d.timeLimitS]).to.deep.equal([8, 128, 1e-3, 2e-4, 0.2, 600]);
    expect(parseTrainOptions({ learningRate: 3e-3 }).lrFinal).to.be.closeTo(6e-4, 1e-12);
    expect(parseTrainOptions({ learningRate: 3e-3, lrFinal: 1e-3 }).lrFinal).to.equal(1e-3);
    const o = { learningRate: 1e-3, lrFinal: 2e-4, finalFraction: 0.2, steps: 100, timeLimitS: 0 };
    expect(scheduledLearningRate(o, 79, 0)).to.equal(1e-3);
    expect(scheduledLearningRate(o, 80, 0)).to.equal(2e-4);
    const byTime = { ...o, steps: 1e7, timeLimitS: 600 };
    expect(scheduledLearningRate(byTime, 5000, 479)).to.equal(1e-3);
    expect(scheduledLearningRate(byTime, 10, 480)).to.equal(2e-4);
    expect(scheduledLearningRate({ ...o, finalFraction: 0 }, 99, 0)).to.equal(1e-3);
  });

  it('names the bad field', () => {
    expect(() => parseTrainOptions({ steps: 0 })).to.throw(/train\.steps must be an integer/);
    expect(() => parseTrainOptions({ learningRate: 'x' })).to.throw(/train\.learningRate/);
    expect(() => parseTrainOptions({ bogus: 1 })).to.throw(/train\.bogus is not a training option/);
    expect(() => parseTrainOptions({ augment: { spin: true } })).to.throw(/augment\.spin/);
  });
});
