/** The compute lane's scheduling: a trainer woken while its slice runs is not put to sleep by that slice. */
import { expect } from 'chai';
import { Lane, type Trainer } from '../../server/training/lane.js';

describe('training: lane', () => {
  it('a wake that arrives during a slice that finds nothing to do runs the trainer again (no lost wake-up)', async () => {
    const lane = new Lane((e) => {
      throw e;
    });
    let calls = 0;
    let cancelled = false;
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    const t: Trainer = {
      async slice() {
        calls++;
        if (cancelled) {
          finished();
          lane.removeTrainer(t);
          return false;
        }
        // The first slice is in flight (e.g. a worker call) when the cancel arrives and wakes the trainer.
        await new Promise((r) => setTimeout(r, 20));
        if (calls === 1) {
          cancelled = true;
          lane.wakeTrainer(t);
        }
        return false; // "nothing to do now"
      },
    };
    lane.addTrainer(t);
    const timeout = new Promise<string>((r) => setTimeout(() => r('lost wake-up'), 2000));
    expect(await Promise.race([done.then(() => 'ran again'), timeout])).to.equal('ran again');
    expect(calls).to.equal(2);
    lane.stop();
    await lane.done;
  });

  it('a trainer that finds nothing to do sleeps until woken', async () => {
    const lane = new Lane((e) => {
      throw e;
    });
    let calls = 0;
    const t: Trainer = {
      slice: async () => {
        calls++;
        return false;
      },
    };
    lane.addTrainer(t);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).to.equal(1);
    lane.wakeTrainer(t);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).to.equal(2);
    lane.stop();
    await lane.done;
  });
});
