/**
 * Tensor backend selection. Only server/main.ts (main process) and the training/prediction worker threads
 * call `initBackend`; every other module uses whatever backend is active.
 *
 * Order for 'auto': `@tensorflow/tfjs-node-gpu` (an optionalDependency, loaded with a dynamic import inside a
 * try, so a missing or broken install simply falls through) -> wasm (SIMD). The plain 'cpu' backend is never
 * chosen automatically: it is ~100x too slow to train on and only exists for reference tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import path from 'node:path';
import { registerWasmKernels } from './kernels/index.js';
import { registerCustomKernels } from './kernels/index.js';

export type BackendPreference = 'auto' | 'tfjs-node-gpu' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The tfjs backend name: 'tensorflow' (tfjs-node-gpu), 'wasm' or 'cpu'. */
  name: string;
  /** wasm only: SIMD build in use. */
  simd: boolean;
  /** wasm: XNNPACK threads (1 in Node); tensorflow: 0 = chosen by TensorFlow. */
  threads: number;
}

let wasmPathsSet = false;

async function tryNodeGpu(): Promise<boolean> {
  try {
    // A variable specifier keeps TypeScript from resolving a package that may not be installed.
    const spec = '@tensorflow/tfjs-node-gpu';
    await import(spec);
    const ok = await tf.setBackend('tensorflow');
    return ok && tf.getBackend() === 'tensorflow';
  } catch {
    return false;
  }
}

async function initWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!wasmPathsSet) {
    const require = createRequire(import.meta.url);
    const pkg = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    try {
      wasm.setWasmPaths(path.join(pkg, 'dist') + path.sep);
    } catch {
      // Already initialised elsewhere in this thread: the paths are set.
    }
    wasmPathsSet = true;
  }
  registerWasmKernels();
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('could not initialise the tfjs wasm backend');
}

function info(): BackendInfo {
  const name = tf.getBackend();
  if (name === 'wasm') {
    let threads = 1;
    let simd = false;
    try { simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT'); } catch { /* flag unknown */ }
    try { threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 2 : 1; } catch { /* flag unknown */ }
    return { name, simd, threads };
  }
  return { name, simd: false, threads: 0 };
}

/**
 * Pick and initialise the tfjs backend for this thread. Idempotent. Throws when an explicitly requested
 * backend cannot be initialised (never falls back to 'cpu').
 */
export async function initBackend(preferred: BackendPreference = 'auto'): Promise<BackendInfo> {
  registerCustomKernels();
  if (preferred === 'auto' || preferred === 'tfjs-node-gpu') {
    if (tf.getBackend() === 'tensorflow' || (await tryNodeGpu())) return info();
    if (preferred === 'tfjs-node-gpu') throw new Error('@tensorflow/tfjs-node-gpu is not available on this machine');
    await initWasm();
    return info();
  }
  if (preferred === 'wasm') {
    await initWasm();
    return info();
  }
  // Explicit 'cpu' (reference tests only).
  await import('@tensorflow/tfjs-backend-cpu');
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new Error('could not initialise the tfjs cpu backend');
  return info();
}
