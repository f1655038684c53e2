/**
 * What building the native ('tensorflow') backend needs, checked without side effects: shared by
 * `npm run native` (scripts/setup-native.mjs) and the install step (scripts/postinstall.mjs).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The files of a pip TensorFlow 2.x that the binding compiles and links against. */
export const TF_FILES = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2', 'include/tensorflow/c/eager/c_api.h'];

/** An executable named `name` (or an absolute/relative path) on PATH, or null. */
export function which(name, env = process.env) {
  if (!name) return null;
  const candidates = name.includes('/') ? [name] : (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch { /* not here */ }
  }
  return null;
}

/**
 * The pip TensorFlow package directory: SPARSECELL_TENSORFLOW_DIR, else the `tensorflow` package that
 * `$PYTHON` (default python3) would import. find_spec does not import TensorFlow (seconds and banners).
 */
export function findTensorFlow(env = process.env) {
  if (env.SPARSECELL_TENSORFLOW_DIR) return path.resolve(env.SPARSECELL_TENSORFLOW_DIR);
  const python = env.PYTHON ?? 'python3';
  try {
    const out = execFileSync(python, ['-c',
      'import importlib.util as u; s = u.find_spec("tensorflow"); print(s.submodule_search_locations[0] if s else "")'],
    { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8', timeout: 30000 });
    return out.trim() || null;
  } catch {
    return null;
  }
}

/** The first TensorFlow file missing from tfDir (null when all are there). */
export function missingTensorFlowFile(tfDir) {
  return TF_FILES.map((f) => path.join(tfDir, f)).find((f) => !fs.existsSync(f)) ?? null;
}

/**
 * Why the binding cannot be built here (a short phrase), or null when everything it needs is present:
 * Linux x86-64, a pip TensorFlow, a C++ compiler, make and Python (node-gyp runs gyp with Python).
 */
export function nativeBlocker(env = process.env, platform = `${process.platform}-${process.arch}`) {
  if (platform !== 'linux-x64') return { reason: `only Linux x86-64 is supported (this is ${platform})` };
  const tfDir = findTensorFlow(env);
  if (!tfDir) return { reason: 'no pip TensorFlow found (`pip install tensorflow-cpu`, or tensorflow for NVIDIA GPUs)' };
  const missing = missingTensorFlowFile(tfDir);
  if (missing) return { reason: `${missing} is missing: not a pip TensorFlow 2.x install?`, tfDir };
  const cxx = env.CXX ? which(env.CXX.split(' ')[0], env) : (which('c++', env) ?? which('g++', env));
  if (!cxx) return { reason: `no C++ compiler (${env.CXX ? `CXX=${env.CXX} not found` : 'c++ / g++ not on PATH'})`, tfDir };
  if (!which('make', env)) return { reason: 'no `make` on PATH', tfDir };
  if (!which(env.PYTHON ?? 'python3', env)) return { reason: `no Python for node-gyp (${env.PYTHON ?? 'python3'} not on PATH)`, tfDir };
  return { reason: null, tfDir };
}
