/** Cellpose-style diameter: a model told the object diameter trains and predicts on the original grid. */
import { expect } from 'chai';
import { initBackend } from '../../server/tensor/backend.js';
import { fitModel, segment } from '../../server/training/pipeline.js';
import { makeBlobs } from '../../scripts/synthetic.js';
import { matching } from '../../server/metrics/matching.js';
import { disposeModel } from '../../server/models/segmentation-model.js';

describe('training: object-diameter rescaling (cellpose diameter)', function () {
  this.timeout(120000);
  before(async () => {
    await initBackend('wasm');
  });

  it('trains on small objects scaled up (diameter 10 -> x3) and returns labels at the input size', async () => {
    const b = makeBlobs({ height: 40, width: 40, count: 6, minRadius: 3, maxRadius: 5, seed: 4 });
    const { model } = await fitModel([{ image: b.image, labels: b.labels }], {
      family: 'cellpose',
      config: { unetDepth: 2, unetFilters: 16, diameter: 10 },
      train: { steps: 60, patchSize: 64, batchSize: 2, learningRate: 3e-3 },
    });
    const inst = await segment(model, b.image);
    expect([inst.labels.height, inst.labels.width]).to.deep.equal([40, 40]);
    const m = matching(b.labels, inst.labels, 0.5);
    expect(m.f1, `F1 ${m.f1}`).to.be.greaterThan(0.5);
    disposeModel(model);
  });
});
