import { expect } from 'chai';
import { LabelLayer } from '../../server/sessions/label-layer.js';

describe('sessions: label layer', () => {
  it('keeps counts incrementally, equal to a full recount after random patches', () => {
    const L = new LabelLayer([20, 30]);
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let k = 0; k < 200; k++) {
      const h = 1 + Math.floor(rand() * 8),
        w = 1 + Math.floor(rand() * 8);
      const oy = Math.floor(rand() * (20 - h)),
        ox = Math.floor(rand() * (30 - w));
      const patch = Int32Array.from({ length: h * w }, () => Math.floor(rand() * 6) - 1);
      L.apply([oy, ox], [h, w], patch, rand() < 0.3 ? 'correction' : 'annotation');
    }
    const ids = new Set<number>();
    let un = 0,
      bg = 0;
    for (const v of L.labels) v < 0 ? un++ : v === 0 ? bg++ : ids.add(v);
    expect(L.counts()).to.deep.equal({ unlabeled: un, background: bg, objects: ids.size });
  });

  it('labels and correction flags equal a pixel-by-pixel reference after random patches of both kinds (rows that change nothing included)', () => {
    const H = 24,
      W = 40;
    const L = new LabelLayer([H, W]);
    const labels = new Int32Array(H * W).fill(-1),
      corr = new Uint8Array(H * W);
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    let unchangedRows = 0;
    for (let k = 0; k < 300; k++) {
      const h = 1 + Math.floor(rand() * 10),
        w = 1 + Math.floor(rand() * 12);
      const oy = Math.floor(rand() * (H - h)),
        ox = Math.floor(rand() * (W - w));
      // Half the patches repeat what is there (a painted patch mostly does), with a few changed pixels.
      const patch = Int32Array.from({ length: h * w }, (_, j) => labels[(oy + Math.floor(j / w)) * W + ox + (j % w)]);
      const r = rand();
      if (r < 0.5) for (let j = 0; j < patch.length; j++) patch[j] = Math.floor(rand() * 5) - 1;
      else if (r < 0.75) patch[Math.floor(rand() * patch.length)] = Math.floor(rand() * 5) - 1;
      const kind = rand() < 0.3 ? 'correction' : 'annotation';
      for (let y = 0; y < h; y++) {
        let same = true;
        for (let x = 0; x < w; x++) {
          const i = (oy + y) * W + ox + x,
            v = patch[y * w + x];
          if (labels[i] !== v) same = false;
          labels[i] = v;
          corr[i] = v >= 0 && kind === 'correction' ? 1 : 0;
        }
        if (same) unchangedRows++;
      }
      L.apply(
        [oy, ox],
        [h, w],
        Uint16Array.from(patch, (v) => v + 1),
        kind,
        1,
      );
    }
    expect(unchangedRows, 'rows that change no label were exercised').to.be.greaterThan(100);
    expect(corr.some((c) => c === 1)).to.equal(true);
    expect([...L.labels]).to.deep.equal([...labels]);
    expect([...L.corrections]).to.deep.equal([...corr]);
  });

  it('offset1 values applied in place (uint8/uint16, offset 1) give the same layer and counts as signed int32', () => {
    const A = new LabelLayer([16, 16]),
      B = new LabelLayer([16, 16]),
      C = new LabelLayer([16, 16]);
    let seed = 3;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let k = 0; k < 100; k++) {
      const h = 1 + Math.floor(rand() * 6),
        w = 1 + Math.floor(rand() * 6);
      const oy = Math.floor(rand() * (16 - h)),
        ox = Math.floor(rand() * (16 - w));
      const signed = Int32Array.from({ length: h * w }, () => Math.floor(rand() * 5) - 1);
      const kind = rand() < 0.3 ? 'correction' : 'annotation';
      A.apply([oy, ox], [h, w], signed, kind);
      B.apply(
        [oy, ox],
        [h, w],
        Uint16Array.from(signed, (v) => v + 1),
        kind,
        1,
      );
      C.apply(
        [oy, ox],
        [h, w],
        Uint8Array.from(signed, (v) => v + 1),
        kind,
        1,
      );
    }
    expect(A.counts().objects).to.be.greaterThan(1);
    expect(A.counts().background).to.be.greaterThan(0);
    for (const L of [B, C]) {
      expect([...L.labels]).to.deep.equal([...A.labels]);
      expect([...L.corrections]).to.deep.equal([...A.corrections]);
      expect(L.counts()).to.deep.equal(A.counts());
    }
  });

  it('marks correction pixels (labeled ones only) and clears them when annotated again', () => {
    const L = new LabelLayer([4, 4]);
    L.apply([0, 0], [2, 2], Int32Array.from([1, -1, 0, 2]), 'correction');
    expect([...L.corrections.subarray(0, 6)]).to.deep.equal([1, 0, 0, 0, 1, 1]);
    L.apply([0, 0], [1, 1], Int32Array.from([3]), 'annotation');
    expect(L.corrections[0]).to.equal(0);
    expect(L.lastEdit?.region).to.deep.equal([0, 0, 1, 1]);
  });

  it('applies [z, y, x] patches to stacks and exposes planes', () => {
    const L = new LabelLayer([3, 4, 5]);
    L.apply([1, 2, 3], [1, 2, 2], Int32Array.from([5, 5, 0, 0]), 'annotation');
    expect(L.plane(1)[2 * 5 + 3]).to.equal(5);
    expect(L.plane(0).every((v) => v === -1)).to.equal(true);
    expect(L.counts()).to.deep.equal({ unlabeled: 60 - 4, background: 2, objects: 1 });
  });
});
