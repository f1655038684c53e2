import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDevices, parseNvidiaSmi } from '../../server/tensor/devices.js';
import { DIST_ROOT } from '../helpers/daemon.js';

describe('devices', () => {
  it('parses nvidia-smi name/memory lines (MiB) and ignores anything else', () => {
    const out = 'NVIDIA A100-SXM4-80GB, 81920\nNVIDIA GeForce RTX 3090, 24576\n\nNo devices were found\n';
    expect(parseNvidiaSmi(out)).to.deep.equal([
      { type: 'GPU', name: 'NVIDIA A100-SXM4-80GB', memoryBytes: 81920 * 2 ** 20 },
      { type: 'GPU', name: 'NVIDIA GeForce RTX 3090', memoryBytes: 24576 * 2 ** 20 },
    ]);
    expect(parseNvidiaSmi('')).to.deep.equal([]);
  });

  it('lists the CPU first, with its cores and memory', async () => {
    const [cpu] = await listDevices();
    expect(cpu.type).to.equal('CPU');
    expect(cpu.name).to.be.a('string').and.not.equal('');
    expect(cpu.cores).to.be.greaterThan(0);
    expect(cpu.memoryBytes).to.be.greaterThan(2 ** 28);
  });

  it('scripts/gpu-check.sh --quick runs the CPU path end to end and writes its JSON @slow', function () {
    this.timeout(600000);
    const root = join(DIST_ROOT, '..');
    const r = spawnSync(join(root, 'scripts', 'gpu-check.sh'), ['--quick'], { cwd: root, encoding: 'utf8', timeout: 590000 });
    expect(r.status, r.stderr.slice(-2000)).to.equal(0);
    const j = JSON.parse(readFileSync(join(root, 'bench', 'results', 'gpu-check.json'), 'utf8'));
    expect(j.quick).to.equal(true);
    expect(j.devices[0].type).to.equal('CPU');
    expect(['tensorflow', 'wasm']).to.include(j.daemonBackend.name);
    expect(j.trainStep.oursStepMs).to.be.greaterThan(0);
    expect(j.live.single.editToViewMs.n).to.equal(3);
    expect(j.verdict).to.be.a('string');
  });
});
