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
import { pathToFileURL } from 'node:url';
import { registerWasmKernels } from './kernels/index.js';
import { registerCustomKernels } from './kernels/index.js';

export type BackendPreference = 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';

/** TensorFlow's thread pools (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS); 0 = TensorFlow decides. */
export interface TensorFlowThreads {
  intra: number;
  inter: number;
}

export interface BackendInfo {
  /** The tfjs backend name: 'tensorflow' (tfjs-node-gpu or tfjs-node), 'wasm' or 'cpu'. */
  name: string;
  /** wasm only: SIMD build in use. */
  simd: boolean;
  /** wasm: XNNPACK threads (1 in Node); tensorflow: intra-op threads, 0 = chosen by TensorFlow. */
  threads: number;
  /** tensorflow: inter-op threads, 0 = chosen by TensorFlow. */
  interOpThreads?: number;
  /** tensorflow: TensorFlow placed its ops on a GPU device (tfjs-node's isUsingGpuDevice). */
  gpu?: boolean;
  /** Why auto did not pick a native backend whose binding is installed (it failed to load). */
  fallback?: string;
}

export interface InitOptions {
  /** The thread settings the main thread put into the environment (reported, see server/main.ts). */
  threads?: TensorFlowThreads;
  /** Package (name or directory) per native backend; tests point these at deliberately broken builds. */
  packages?: Partial<Record<'tfjs-node-gpu' | 'tfjs-node', string>>;
}

let wasmPathsSet = false;

const NODE_PACKAGES = { 'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu', 'tfjs-node': '@tensorflow/tfjs-node' } as const;
const require = createRequire(import.meta.url);

/**
 * True when the package is installed with a compiled binding (lib/napi-v*\/tfjs_binding.node). An
 * optionalDependency whose download step failed can be left without one; importing it would register its
 * kernels and then throw, leaving duplicate registrations behind for the next candidate.
 */
function hasBinding(spec: string): boolean {
  // node-pre-gyp's layout: lib/napi-v<N>/ for the N-API version the binding was built for.
  for (let napi = 3; napi <= 10; napi++) {
    try {
      require.resolve(`${spec}/lib/napi-v${napi}/tfjs_binding.node`);
      return true;
    } catch {
      /* not this version */
    }
  }
  return false;
}

/**
 * Load a libtensorflow-backed package. 'absent' when it has no compiled binding; otherwise true, or the
 * reason it failed (a built binding that does not load: wrong TensorFlow, moved pip install, corrupt file).
 */
async function tryNode(which: keyof typeof NODE_PACKAGES, opts: InitOptions): Promise<true | 'absent' | string> {
  const spec = opts.packages?.[which] ?? NODE_PACKAGES[which];
  if (!hasBinding(spec)) return 'absent';
  try {
    // tfjs-node finds its binding with node-pre-gyp, which parses process.argv with nopt: a program flag such as
    // `--dir X` (an abbreviation of node-pre-gyp's --directory) or `-C X` makes it look for the binding under X.
    // The program's own flags are none of its business, so it sees none while loading.
    const argv = process.argv;
    process.argv = argv.slice(0, 2);
    try {
      await import(pathToFileURL(require.resolve(spec)).href);
    } finally {
      process.argv = argv;
    }
    const ok = await tf.setBackend('tensorflow');
    if (ok && tf.getBackend() === 'tensorflow') {
      // One small op proves the binding computes (and a worker that ends before TensorFlow ever ran an op
      // crashes libtensorflow at exit).
      const v = tf.tidy(() => tf.sum(tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, 'same'))).dataSync()[0];
      if (v !== 100) return `a test convolution gave ${v}, expected 100`;
      return true;
    }
    return 'the tensorflow backend did not initialise';
  } catch (e) {
    return String((e as Error)?.message ?? e).split('\n')[0];
  }
}

async function initWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!wasmPathsSet) {
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

function info(opts: InitOptions, fallback?: string): BackendInfo {
  const name = tf.getBackend();
  if (name === 'wasm') {
    let threads = 1;
    let simd = false;
    try {
      simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    } catch {
      /* flag unknown */
    }
    try {
      threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 2 : 1;
    } catch {
      /* flag unknown */
    }
    return { name, simd, threads, ...(fallback ? { fallback } : {}) };
  }
  if (name === 'tensorflow') {
    const gpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
    return { name, simd: false, threads: opts.threads?.intra ?? 0, interOpThreads: opts.threads?.inter ?? 0, gpu };
  }
  return { name, simd: false, threads: 0 };
}

/**
 * Pick and initialise the tfjs backend for this thread. Idempotent. Throws when an explicitly requested
 * backend cannot be initialised (never falls back to 'cpu').
 */
export async function initBackend(preferred: BackendPreference = 'auto', opts: InitOptions = {}): Promise<BackendInfo> {
  registerCustomKernels();
  if (tf.getBackend() === 'tensorflow' && preferred !== 'wasm' && preferred !== 'cpu') return info(opts);
  if (preferred === 'auto') {
    const failed: string[] = [];
    for (const which of ['tfjs-node-gpu', 'tfjs-node'] as const) {
      const r = await tryNode(which, opts);
      if (r === true) return info(opts);
      if (r !== 'absent') failed.push(`${opts.packages?.[which] ?? NODE_PACKAGES[which]} is built but does not load (${r})`);
    }
    await initWasm();
    return info(opts, failed.length ? `${failed.join('; ')}: using wasm; rebuild with \`npm run native\`` : undefined);
  }
  if (preferred === 'tfjs-node-gpu' || preferred === 'tfjs-node') {
    const r = await tryNode(preferred, opts);
    if (r === true) return info(opts);
    const hint =
      r !== 'absent'
        ? `: its binding does not load (${r}); rebuild with \`npm run native\``
        : preferred === 'tfjs-node'
          ? ' (run `npm run native` with a pip TensorFlow installed)'
          : '';
    throw new Error(`@tensorflow/${preferred} is not available on this machine${hint}`);
  }
  if (preferred === 'wasm') {
    await initWasm();
    return info(opts);
  }
  // Explicit 'cpu' (reference tests only). Anything else is a caller's typo (bench flags arrive unchecked): never
  // fall back to the stock cpu backend silently.
  if (preferred !== 'cpu') throw new Error(`unknown backend "${preferred}" (auto, tfjs-node, tfjs-node-gpu, wasm)`);
  await import('@tensorflow/tfjs-backend-cpu');
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new Error('could not initialise the tfjs cpu backend');
  return info(opts);
}
