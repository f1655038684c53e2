import { expect } from 'chai';
import { useBackend } from '../../tensor/helpers.js';
import { familyTrainingTests } from '../../helpers/family-training.js';

describe('elephant model (training)', () => {
  before(() => useBackend('wasm'));
  familyTrainingTests('elephant', (maps) => {
    expect(maps.channels).to.equal(3);
    for (let i = 0; i < 64 * 64; i++) expect(maps.data[3 * i] + maps.data[3 * i + 1] + maps.data[3 * i + 2]).to.be.closeTo(1, 1e-5);
  });
});
