/**
 * npm run bench -- gpu-check [--quick]      (scripts/gpu-check.sh runs it, also from a bundle on a bare machine)
 * What a person with an NVIDIA GPU runs to see whether sparsecell trains on it and how fast:
 *  1. the GPUs nvidia-smi lists, and what the daemon reports (server.info.backend: name, gpu, devices);
 *  2. the train-step bench (U-Net depth 3 / 32 filters, batch 4 x 256^2) with Keras on the same machine, and
 *     whether Keras saw the GPU: the step-time ratio is the figure;
 *  3. the live bench (DSB image, 512^2 view; edit -> refreshed view, and server.info latency with 4 sessions).
 * --quick shrinks 2 and 3 to seconds (the CPU path's smoke test). Writes bench/results/gpu-check.json.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SparsecellClient } from '../clients/typescript/src/client.js';
import { listDevices } from '../server/tensor/devices.js';
import { log, spawnDaemon } from './helpers.js';

async function daemonBackend(): Promise<Record<string, unknown>> {
  const d = await spawnDaemon();
  try {
    const c = await SparsecellClient.connect(d.url);
    try {
      // serve starts its compute workers at once; the backend is known when they are ready.
      for (let i = 0; i < 600; i++) {
        const b = (await c.call('server.info', {})).backend;
        if (b.name !== 'none') return b as Record<string, unknown>;
        await new Promise((r) => setTimeout(r, 100));
      }
      return { name: 'none', error: 'compute workers not ready after 60 s' };
    } finally {
      await c.close();
    }
  } finally {
    await d.stop();
  }
}

async function attempt<T>(what: string, f: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await f();
  } catch (e) {
    log(`${what} failed: ${(e as Error).message}`);
    return { error: (e as Error).message };
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const devices = await listDevices();
  const gpus = devices.filter((d) => d.type === 'GPU');
  log(`gpu-check: ${gpus.length ? gpus.map((g) => g.name).join(', ') : 'no NVIDIA GPU found (nvidia-smi): checking the CPU path'}${quick ? ' (quick)' : ''}`);
  const backend = await attempt('server.info', daemonBackend);
  log(`daemon backend: ${JSON.stringify(backend)}`);
  const { run: trainStep } = await import('./train-step.js');
  const ts = (await attempt('train-step', () =>
    trainStep({
      out: join(tmpdir(), `sparsecell-gpu-check-train-step-${process.pid}.json`),
      ...(quick ? { batch: 1, size: 64, steps: 2, predictSize: 128 } : {}),
    }),
  )) as Record<string, any>;
  const { run: live } = await import('./live.js');
  const lv = (await attempt('live', () => live(quick ? ['--edits', '3', '--pace', '1', '--sessions', '1'] : []))) as Record<string, any>;
  const trainsOnGpu = (backend as { gpu?: boolean }).gpu === true;
  return {
    quick,
    gpus,
    devices,
    daemonBackend: backend,
    trainsOnGpu,
    trainStep: ts.error
      ? ts
      : {
          config: ts.config,
          oursStepMs: ts.ours?.stepMs,
          kerasStepMs: ts.native?.stepMs,
          kerasGpus: ts.native?.gpus,
          kerasError: ts.native?.error,
          speedVsKeras: ts.ratio?.trainSpeedVsNative,
          predictSpeedVsKeras: ts.ratio?.predictSpeedVsNative,
          ours: ts.ours,
          keras: ts.native,
        },
    live: lv.error ? lv : { single: { editToViewMs: lv.single?.editToViewMs, f1Last: lv.single?.f1Last }, multi: lv.multi },
    verdict:
      gpus.length === 0
        ? 'no GPU: CPU path only'
        : trainsOnGpu
          ? 'sparsecell trains on the GPU'
          : 'a GPU is present but sparsecell trains on the CPU: build the binding against the full `tensorflow` wheel (README "GPU")',
  };
}
