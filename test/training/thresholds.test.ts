/**
 * tuneThresholds on StarDist-like maps built by hand, where the best grid point is known: one candidate pixel per
 * disk (probability = its score, every star distance = its radius), ground truth drawn as disks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { initBackend } from '../../server/tensor/backend.js';
import { createModel, disposeModel, type SegmentationModel } from '../../server/models/segmentation-model.js';
import { NMS_GRID, PROB_GRID, thresholdGrid, tuneThresholds } from '../../server/training/thresholds.js';
import type { Image2D, Labels2D } from '../../server/imaging/types.js';

const S = 64;
const N_RAYS = 32;

/** A disk: a candidate at (y, x) with this score; `truth` > 0 draws it into the ground truth with that id. */
interface Disk {
  y: number;
  x: number;
  r: number;
  score: number;
  truth: number;
}

/** Prediction maps [prob, d_1..d_32]: only the disk centres are candidates. */
function mapsOf(disks: Disk[]): Float32Array {
  const C = 1 + N_RAYS,
    m = new Float32Array(S * S * C);
  for (const d of disks) {
    const o = (d.y * S + d.x) * C;
    m[o] = d.score;
    m.fill(d.r, o + 1, o + C);
  }
  return m;
}

/** Ground truth: true disks painted by increasing score (the higher score wins where two overlap, as rendering does). */
function truthOf(disks: Disk[]): Labels2D {
  const data = new Int32Array(S * S);
  for (const d of [...disks].filter((d) => d.truth > 0).sort((a, b) => a.score - b.score))
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if ((y - d.y) ** 2 + (x - d.x) ** 2 <= d.r ** 2) data[y * S + x] = d.truth;
  return { height: S, width: S, data };
}

/** A real tiny StarDist-like model whose activation returns the next fixture's maps instead of the network's. */
function fixtureModel(maps: Float32Array[]): SegmentationModel {
  const m = createModel('stardist', { unetDepth: 1, unetFilters: 4, nRays: N_RAYS }, { seed: 1 });
  let next = 0;
  const activate = (raw: tf.Tensor4D) => {
    expect(raw.shape.slice(0, 3)).to.deep.equal([1, S, S]); // one window per image
    return tf.tensor4d(maps[next++], [1, S, S, 1 + N_RAYS]);
  };
  return { ...m, family: { ...m.family, activate } };
}

const image: Image2D = { height: S, width: S, channels: 1, data: Float32Array.from({ length: S * S }, (_, i) => i % 7) };

describe('training: tuneThresholds', () => {
  before(async () => {
    await initBackend('wasm');
  });

  it('chooses the known best (probThresh 0.4, nmsThresh 0.3) pooled over the images, with no edge reported', async () => {
    // image A: the weakest true object scores 0.45 (needs probThresh < 0.45); a lone false candidate scores 0.35
    // (needs probThresh >= 0.35); two true disks overlap by ~0.26 of their area (NMS <= 0.2 suppresses one).
    const a: Disk[] = [
      { y: 14, x: 14, r: 7, score: 0.45, truth: 1 },
      { y: 14, x: 48, r: 6, score: 0.35, truth: 0 },
      { y: 42, x: 16, r: 8, score: 0.95, truth: 2 },
      { y: 42, x: 26, r: 8, score: 0.7, truth: 3 },
    ];
    // image B: a false candidate overlaps a stronger true disk by ~0.36 (NMS >= 0.4 keeps it).
    const b: Disk[] = [
      { y: 18, x: 18, r: 8.5, score: 0.9, truth: 1 },
      { y: 18, x: 27, r: 8.5, score: 0.8, truth: 0 },
      { y: 46, x: 46, r: 7, score: 0.6, truth: 2 },
    ];
    const model = fixtureModel([mapsOf(a), mapsOf(b)]);
    const seen: number[] = [];
    const choice = await tuneThresholds(
      model,
      [
        { image, labels: truthOf(a) },
        { image, labels: truthOf(b) },
      ],
      { onImage: (done) => seen.push(done) },
    );
    expect(seen).to.deep.equal([1, 2]);
    expect(choice.grid).to.have.length(PROB_GRID.length * NMS_GRID.length);
    const acc = (p: number, n: number) => choice.grid.find((g) => g.probThresh === p && g.nmsThresh === n)!.accuracy;
    expect({ probThresh: choice.probThresh, nmsThresh: choice.nmsThresh }).to.deep.equal({ probThresh: 0.4, nmsThresh: 0.3 });
    expect(choice.accuracy).to.equal(1);
    expect(choice.atEdge).to.deep.equal([]);
    // each neighbour of the best point loses exactly what the fixture says (5 true objects in all)
    expect(acc(0.3, 0.3)).to.be.closeTo(5 / 6, 1e-9); // + the lone 0.35 candidate
    expect(acc(0.5, 0.3)).to.be.closeTo(4 / 5, 1e-9); // - the 0.45 object
    expect(acc(0.4, 0.2)).to.be.closeTo(4 / 5, 1e-9); // one of the overlapping true pair suppressed
    expect(acc(0.4, 0.4)).to.be.closeTo(5 / 6, 1e-9); // the overlapping false candidate kept
    expect(choice.grid.filter((g) => g.accuracy === 1)).to.have.length(1);
    disposeModel(model);
  });

  it('ties keep the earliest grid point and the edge is reported; families without NMS tune probThresh only', async () => {
    const easy: Disk[] = [
      { y: 20, x: 20, r: 7, score: 0.95, truth: 1 },
      { y: 44, x: 40, r: 8, score: 0.9, truth: 2 },
    ];
    const model = fixtureModel([mapsOf(easy)]);
    const choice = await tuneThresholds(model, [{ image, labels: truthOf(easy) }]);
    expect(choice.grid.every((g) => g.accuracy === 1)).to.equal(true);
    expect([choice.probThresh, choice.nmsThresh]).to.deep.equal([PROB_GRID[0], NMS_GRID[0]]);
    expect(choice.atEdge).to.deep.equal(['probThresh', 'nmsThresh']);
    disposeModel(model);
    for (const f of ['cellpose', 'elephant']) {
      expect(thresholdGrid(f).map((g) => g.probThresh)).to.deep.equal([...PROB_GRID]);
      expect(thresholdGrid(f).every((g) => g.nmsThresh === undefined)).to.equal(true);
    }
  });
});
