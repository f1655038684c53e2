/** Test helpers: backend switching, seeded random arrays, closeness checks. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { initBackend } from '../../server/tensor/backend.js';
import { rng, gaussian } from '../../scripts/synthetic.js';

let cpuReady = false;
let wasmReady = false;
let tensorflowReady: boolean | undefined;

/**
 * True when tfjs-node's libtensorflow backend loads here (after `npm run native`, or tfjs-node-gpu). The
 * active backend is left as it was.
 */
export async function tensorflowAvailable(): Promise<boolean> {
  if (tensorflowReady === undefined) {
    const was = tf.getBackend();
    try {
      await initBackend('tfjs-node');
      tensorflowReady = true;
    } catch {
      tensorflowReady = false;
    }
    if (was) await tf.setBackend(was);
  }
  return tensorflowReady;
}

/** Switch to 'wasm', 'cpu' or 'tensorflow' (initialising cpu and wasm once; check tensorflowAvailable first). */
export async function useBackend(name: 'wasm' | 'cpu' | 'tensorflow'): Promise<void> {
  if (!cpuReady) {
    await initBackend('cpu');
    cpuReady = true;
  }
  if (!wasmReady) {
    await initBackend('wasm');
    wasmReady = true;
  }
  if (name === 'tensorflow' && !(await tensorflowAvailable())) throw new Error('the tensorflow backend is not available');
  await tf.setBackend(name);
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * gaussian(r);
  return a;
}

export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-4, what = ''): void {
  expect(a.length, `${what} length`).to.equal(b.length);
  let worst = 0,
    at = -1,
    scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  expect(worst, `${what}: max abs diff ${worst} at ${at} (a=${a[at]}, b=${b[at]}, scale ${scale})`).to.be.at.most(tol * Math.max(1, scale));
}
