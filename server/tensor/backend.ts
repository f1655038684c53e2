/**
 * Tensor backend selection. Only server/main.ts (main process) and the training/prediction worker threads
 * call `initBackend`; every other module uses whatever backend is active.
 *
 * Order for 'auto': `@tensorflow/tfjs-node-gpu` (an optionalDependency, loaded with a dynamic import inside a
 * try, so a missing or broken install simply falls through) -> `@tensorflow/tfjs-node` (present only after
 * `npm run native` built it against a pip-installed TensorFlow, see scripts/setup-native.mjs) -> wasm (SIMD). The plain 'cpu' backend is never
 * chosen automatically: it is ~100x too slow to train on and only exists for reference tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import path from 'node:path';
import { registerWasmKernels } from './kernels/index.js';
import { registerCustomKernels } from './kernels/index.js';

export type BackendPreference = 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The tfjs backend name: 'tensorflow' (tfjs-node-gpu or tfjs-node), 'wasm' or 'cpu'. */
  name: string;
  /** wasm only: SIMD build in use. */
  simd: boolean;
  /** wasm: XNNPACK threads (1 in Node); tensorflow: 0 = chosen by TensorFlow. */
  threads: number;
}

let wasmPathsSet = false;

const NODE_PACKAGES = { 'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu', 'tfjs-node': '@tensorflow/tfjs-node' } as const;

/**
 * True when the package is installed with a compiled binding (lib/napi-v*\/tfjs_binding.node). An
 * optionalDependency whose download step failed can be left without one; importing it would register its
 * kernels and then throw, leaving duplicate registrations behind for the next candidate.
 */
function hasBinding(spec: string): boolean {
  const require = createRequire(import.meta.url);
  // node-pre-gyp's layout: lib/napi-v<N>/ for the N-API version the binding was built for.
  for (let napi = 3; napi <= 10; napi++) {
    try {
      require.resolve(`${spec}/lib/napi-v${napi}/tfjs_binding.node`);
      return true;
    } catch { /* not this version */ }
  }
  return false;
}

/** Load a libtensorflow-backed package; false when it is not installed or its binding does not load. */
async function tryNode(which: keyof typeof NODE_PACKAGES): Promise<boolean> {
  if (!hasBinding(NODE_PACKAGES[which])) return false;
  try {
    // A variable specifier keeps TypeScript from resolving a package that may not be installed.
    const spec: string = NODE_PACKAGES[which];
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
  if (tf.getBackend() === 'tensorflow' && preferred !== 'wasm' && preferred !== 'cpu') return info();
  if (preferred === 'auto') {
    if ((await tryNode('tfjs-node-gpu')) || (await tryNode('tfjs-node'))) return info();
    await initWasm();
    return info();
  }
  if (preferred === 'tfjs-node-gpu' || preferred === 'tfjs-node') {
    if (await tryNode(preferred)) return info();
    const hint = preferred === 'tfjs-node' ? ' (run `npm run native` with a pip TensorFlow installed)' : '';
    throw new Error(`@tensorflow/${preferred} is not available on this machine${hint}`);
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
