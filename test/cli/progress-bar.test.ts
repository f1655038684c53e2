import { expect } from 'chai';
import { ProgressBar, formatDuration } from '../../server/cli/progress-bar.js';

function sink(isTTY: boolean) {
  const out: string[] = [];
  return {
    out,
    stream: {
      isTTY,
      columns: 200,
      write: (s: string) => {
        out.push(s);
        return true;
      },
    },
  };
}

describe('cli/progress-bar', () => {
  it('formats durations', () => {
    expect(formatDuration(42)).to.equal('42s');
    expect(formatDuration(185)).to.equal('3m05s');
    expect(formatDuration(3720)).to.equal('1h02m');
    expect(formatDuration(NaN)).to.equal('?');
  });

  it('prints a plain line every 10% when not a TTY, and a final line', () => {
    const { out, stream } = sink(false);
    const bar = new ProgressBar({ label: 'train', total: 100, unit: 'steps', stream });
    for (let i = 1; i <= 100; i++) bar.update(i, { loss: 0.5, 'steps/s': 2.5 });
    bar.finish('done');
    expect(out).to.have.length(10);
    expect(out[0]).to.equal('train  10/100 steps  10%  loss 0.5000  steps/s 2.50  ETA ' + out[0].split('ETA ')[1]);
    expect(out.every((l) => l.endsWith('\n') && !l.includes('\r'))).to.equal(true);
    expect(out[9]).to.equal('train  100/100 steps  100%  done\n');
  });

  it('redraws one line in place on a TTY, throttled', () => {
    const { out, stream } = sink(true);
    let t = 0;
    const bar = new ProgressBar({ label: 'predict', total: 4, stream, now: () => t, width: 4 });
    bar.update(1);
    bar.update(2); // same instant: throttled
    t = 1000;
    bar.update(2, { image: 'a.tif' });
    bar.finish();
    expect(out).to.have.length(3);
    expect(out[0]).to.match(/^\rpredict  \[#\.\.\.\]  1\/4  25%/);
    expect(out[1]).to.match(/^\rpredict  \[##\.\.\]  2\/4  50%  image a\.tif  ETA 1s/);
    expect(out[2].startsWith('\r') && out[2].endsWith('\n')).to.equal(true);
  });
});
