/**
 * Graph inference on the tensorflow backend (models/unet/savedmodel.ts + training/graph-predict.ts): the frozen
 * SavedModel that TensorFlow loads computes the same maps as the eager path (the reference: family.activate of
 * unetForward, themselves tested against the stock kernels) for every family, both StarDist output grids, several
 * input channels and sizes; a session follows the weights when they change; predictImage takes the graph path for
 * large images with the same maps; disposing a model closes its session.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { getUNetWeights, setUNetWeights, unetForward } from '../../../server/models/unet/unet.js';
import { graphInferenceFailure, graphPredict, openGraphSessions, setGraphInference, weightsHash } from '../../../server/training/graph-predict.js';
import { unetGraphNodes } from '../../../server/models/unet/savedmodel.js';
import { activationSpec, createModel, disposeModel, type SegmentationModel } from '../../../server/models/segmentation-model.js';
import { GRAPH_MIN_PIXELS, predictImage } from '../../../server/training/predict.js';
import { tensorflowAvailable, useBackend } from '../../tensor/helpers.js';

/** Largest |a - b| relative to the largest |b|; also returns that scale so callers can check it is not trivial. */
function relDiff(a: Float32Array, b: Float32Array): { rel: number; scale: number; spread: number } {
  expect(a.length).to.equal(b.length);
  let d = 0,
    scale = 0,
    lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
    lo = Math.min(lo, b[i]);
    hi = Math.max(hi, b[i]);
  }
  return { rel: d / scale, scale, spread: hi - lo };
}

describe('U-Net graph inference (tensorflow backend)', function () {
  this.timeout(120000);
  before(async function () {
    if (!(await tensorflowAvailable())) this.skip();
    await useBackend('tensorflow');
  });

  /** Non-zero biases, so a missing or misplaced BiasAdd shows. */
  function withBiases(model: SegmentationModel): void {
    setUNetWeights(
      model.unet,
      getUNetWeights(model.unet).map((t) => (t.name.endsWith('/bias') ? { ...t, data: t.data.map((_, i) => 0.1 * Math.sin(i + t.name.length)) } : t)),
    );
  }

  for (const [family, config, h, w] of [
    ['stardist', { nRays: 8, unetDepth: 3, unetFilters: 4 }, 48, 80],
    ['stardist', { nRays: 8, unetDepth: 3, unetFilters: 4, inputChannels: 2 }, 64, 64],
    ['stardist', { nRays: 8, unetDepth: 3, unetFilters: 4, grid: 2 }, 96, 48],
    ['cellpose', { unetDepth: 2, unetFilters: 4 }, 40, 56],
    ['elephant', { unetDepth: 2, unetFilters: 4 }, 40, 56],
  ] as const) {
    it(`equals the eager maps: ${family} ${JSON.stringify(config)}, ${h}x${w}`, () => {
      const model = createModel(family, config, { seed: 7 });
      try {
        withBiases(model);
        const c = model.unet.config;
        const x = tf.randomNormal([1, h, w, c.inputChannels], 0, 1, 'float32', 3) as tf.Tensor4D;
        const want = tf.tidy(() => model.family.activate(unetForward(model.unet, x), model.config));
        const got = graphPredict(model, x)!;
        expect(got, 'graph inference on tensorflow').to.not.equal(undefined);
        expect(got.shape).to.deep.equal(want.shape);
        expect(want.shape).to.deep.equal([1, h / c.grid, w / c.grid, c.outputChannels]);
        const r = relDiff(got.dataSync() as Float32Array, want.dataSync() as Float32Array);
        expect(r.scale, 'reference output is not trivially zero').to.be.greaterThan(0.1);
        expect(r.spread, 'reference output is not constant').to.be.greaterThan(0.1);
        expect(r.rel).to.be.lessThan(1e-5);
        tf.dispose([x, want, got]);
      } finally {
        disposeModel(model);
      }
    });
  }

  it('follows the weights: after they change, the next call rebuilds the session', () => {
    const model = createModel('stardist', { nRays: 8, unetDepth: 2, unetFilters: 4 }, { seed: 1 });
    try {
      withBiases(model);
      const x = tf.randomNormal([1, 32, 32, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
      const first = graphPredict(model, x)!.dataSync() as Float32Array;
      const before = weightsHash(getUNetWeights(model.unet));
      setUNetWeights(
        model.unet,
        getUNetWeights(model.unet).map((t) => ({ ...t, data: t.data.map((v) => v * 1.5) })),
      );
      expect(weightsHash(getUNetWeights(model.unet))).to.not.equal(before);
      const second = graphPredict(model, x)!.dataSync() as Float32Array;
      const eager = tf.tidy(() => model.family.activate(unetForward(model.unet, x), model.config)).dataSync() as Float32Array;
      expect(relDiff(first, eager).rel, 'the first output came from the old weights').to.be.greaterThan(0.01);
      expect(relDiff(second, eager).rel).to.be.lessThan(1e-5);
      x.dispose();
    } finally {
      disposeModel(model);
    }
  });

  it('a graph TensorFlow cannot load: the prediction is made eagerly, with the same maps, and the reason is kept', async () => {
    const model = createModel('stardist', { nRays: 8, unetDepth: 2, unetFilters: 4 }, { seed: 5 });
    const b = tf.backend() as unknown as { loadSavedModelMetaGraph: (p: string, t: string) => number };
    const load = b.loadSavedModelMetaGraph;
    const side = Math.sqrt(GRAPH_MIN_PIXELS);
    const image = { height: side, width: side, channels: 1, data: Float32Array.from({ length: side * side }, (_, i) => Math.sin(i * 0.01)) };
    try {
      b.loadSavedModelMetaGraph = () => {
        throw new Error('SavedModel load failed: simulated');
      };
      const maps = await predictImage(model, image, { normalized: true });
      expect(graphInferenceFailure()).to.match(/simulated/);
      b.loadSavedModelMetaGraph = load;
      const again = await predictImage(model, image, { normalized: true });
      expect(openGraphSessions(), 'graph inference stays off in this thread').to.equal(0);
      setGraphInference(true);
      expect(graphInferenceFailure()).to.equal(undefined);
      const graphMaps = await predictImage(model, image, { normalized: true });
      expect(openGraphSessions()).to.equal(1);
      const r = relDiff(maps.data, graphMaps.data);
      expect(r.spread).to.be.greaterThan(0.01);
      expect(r.rel).to.be.lessThan(1e-4);
      expect(relDiff(again.data, maps.data).rel).to.equal(0);
    } finally {
      b.loadSavedModelMetaGraph = load;
      setGraphInference(true);
      disposeModel(model);
    }
  });

  it('the graph has one Conv2D + BiasAdd (+ Relu) per convolution, weights as constants, no variables', () => {
    const model = createModel('stardist', { nRays: 32 });
    const nodes = unetGraphNodes(model.unet.config, getUNetWeights(model.unet), activationSpec(model));
    disposeModel(model);
    const count = (op: string) => nodes.filter((n) => n.op === op).length;
    expect(count('Conv2D')).to.equal(15); // 3 x 2 encoder + 2 bottom + 3 x 2 decoder + 1 output
    expect(count('BiasAdd')).to.equal(15);
    expect(count('Relu')).to.equal(15); // 14 hidden + StarDist's distances
    expect(count('Sigmoid')).to.equal(1);
    expect(count('MaxPool')).to.equal(3);
    expect(count('ResizeNearestNeighbor')).to.equal(3);
    expect(nodes.some((n) => /Variable/.test(n.op))).to.equal(false);
  });

  it('predictImage takes the graph path for a large image and gives the eager maps; disposing the model closes its session', async () => {
    const model = createModel('stardist', { nRays: 8, unetDepth: 2, unetFilters: 4 }, { seed: 3 });
    const side = Math.sqrt(GRAPH_MIN_PIXELS);
    const data = Float32Array.from({ length: side * side }, (_, i) => Math.sin(i * 0.013) + Math.cos(i * 0.00071));
    const image = { height: side, width: side, channels: 1, data };
    const sessionsBefore = openGraphSessions();
    const graphMaps = await predictImage(model, image, { normalized: true });
    expect(openGraphSessions(), 'a session was opened for this model').to.equal(sessionsBefore + 1);
    setGraphInference(false);
    let eagerMaps: Awaited<ReturnType<typeof predictImage>>;
    try {
      eagerMaps = await predictImage(model, image, { normalized: true });
    } finally {
      setGraphInference(true);
    }
    const r = relDiff(graphMaps.data, eagerMaps.data);
    expect(r.spread).to.be.greaterThan(0.01);
    expect(r.rel).to.be.lessThan(1e-4);
    // Several windows pasted together (the same tiling on both paths).
    const tiled = await predictImage(model, image, { normalized: true, tileSize: 384 });
    setGraphInference(false);
    let tiledEager: Awaited<ReturnType<typeof predictImage>>;
    try {
      tiledEager = await predictImage(model, image, { normalized: true, tileSize: 384 });
    } finally {
      setGraphInference(true);
    }
    const t = relDiff(tiled.data, tiledEager.data);
    expect(t.spread).to.be.greaterThan(0.01);
    expect(t.rel).to.be.lessThan(1e-4);
    expect(relDiff(tiled.data, eagerMaps.data).rel, 'tiling does not change the maps').to.be.lessThan(1e-4);
    disposeModel(model);
    expect(openGraphSessions()).to.equal(sessionsBefore);
  });
});
