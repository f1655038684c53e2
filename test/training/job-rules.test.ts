/** Live suggestions: due every suggestEveryS, put off while an edit waits for its push, never past 3 intervals. */
import { expect } from 'chai';
import { LIVE_SUGGEST_DEFER_FACTOR, liveSuggestDue } from '../../server/training/job-rules.js';

describe('job rules: when live suggestions are pushed', () => {
  const waiting = () => true;
  const idle = () => false;
  it('never when switched off, never before the interval', () => {
    expect(liveSuggestDue(1000, 0, idle)).to.equal(false);
    expect(liveSuggestDue(9.9, 10, idle)).to.equal(false);
  });
  it('after the interval when no edit waits for its push', () => {
    expect(liveSuggestDue(10, 10, idle)).to.equal(true);
  });
  it('put off while an edit waits, until the interval times the defer factor', () => {
    expect(LIVE_SUGGEST_DEFER_FACTOR).to.be.greaterThan(1);
    expect(liveSuggestDue(10, 10, waiting)).to.equal(false);
    expect(liveSuggestDue(10 * LIVE_SUGGEST_DEFER_FACTOR - 0.1, 10, waiting)).to.equal(false);
    expect(liveSuggestDue(10 * LIVE_SUGGEST_DEFER_FACTOR, 10, waiting)).to.equal(true);
  });
  it('asks whether edits wait only when the interval has passed', () => {
    let asked = 0;
    const count = () => {
      asked++;
      return false;
    };
    liveSuggestDue(5, 10, count);
    liveSuggestDue(50, 10, count);
    expect(asked).to.equal(0);
    liveSuggestDue(15, 10, count);
    expect(asked).to.equal(1);
  });
});
