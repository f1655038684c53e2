#!/usr/bin/env node
/**
 * `npm run native`: give the daemon TensorFlow's native CPU kernels without downloading anything but npm
 * packages.
 *
 * tfjs-node's own install step downloads libtensorflow from a Google CDN, which these machines (and many lab
 * machines) cannot reach. A TensorFlow installed with pip (StarDist and CSBDeep users have one) already ships
 * the same C API in `libtensorflow_cc.so.2`, plus its headers. This script
 *   1. finds that TensorFlow (SPARSECELL_TENSORFLOW_DIR, else `python3 -c "import tensorflow"`'s package dir),
 *   2. installs @tensorflow/tfjs-node from the npm registry with its download step switched off,
 *   3. compiles tfjs-node's N-API binding (the C++ sources are in the npm package) against that TensorFlow with
 *      the node-gyp bundled with npm and Node's own headers (no header download),
 * after which `initBackend('auto')` picks the 'tensorflow' backend. `npm ci` runs this by itself when it can
 * (scripts/postinstall.mjs). Built against the full `tensorflow` wheel (with its NVIDIA pip packages) the same
 * binding runs on a GPU. Linux x86-64 only (pip's TensorFlow layout); elsewhere it explains and exits 1.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { findTensorFlow, missingTensorFlowFile } from './native-env.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TFJS_VERSION = '4.22.0';
const require = createRequire(path.join(root, 'package.json'));

function say(msg) {
  process.stdout.write(`[native] ${msg}\n`);
}

function fail(msg) {
  process.stderr.write(`[native] ${msg}\n`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`only Linux x86-64 is supported (this is ${process.platform}-${process.arch}); the daemon keeps the wasm backend`);
}

const found = findTensorFlow();
if (!found) fail('no TensorFlow found: `pip install tensorflow-cpu` (or set SPARSECELL_TENSORFLOW_DIR) and run again');
const missing = missingTensorFlowFile(found);
if (missing) fail(`${missing} is missing: not a pip TensorFlow 2.x install?`);
// The real directory: the full `tensorflow` wheel finds NVIDIA's pip CUDA libraries through $ORIGIN/../nvidia/*
// runpaths, which only resolve when libtensorflow is loaded from where pip put it (not through a symlink).
const tfDir = fs.realpathSync(found);
say(`TensorFlow at ${tfDir}`);

say(`installing @tensorflow/tfjs-node@${TFJS_VERSION} from the npm registry (download step off)`);
try {
  run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `@tensorflow/tfjs-node@${TFJS_VERSION}`]);
} catch (e) {
  fail(`npm install failed:\n${e.stderr ?? e.message}`);
}
const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));

// deps/ is where tfjs-node's binding.gyp looks for headers and libraries (and its rpath points at deps/lib).
const deps = path.join(pkgDir, 'deps');
fs.rmSync(deps, { recursive: true, force: true });
fs.mkdirSync(path.join(deps, 'lib'), { recursive: true });
fs.symlinkSync(path.join(tfDir, 'include'), path.join(deps, 'include'));
// Link-time names only: at run time the binding finds libtensorflow_cc.so.2 and libtensorflow_framework.so.2
// through an rpath to tfDir itself (LDFLAGS below), so that their own $ORIGIN runpaths work.
const link = (target, name) => fs.symlinkSync(path.join(tfDir, target), path.join(deps, 'lib', name));
link('libtensorflow_cc.so.2', 'libtensorflow.so');
link('libtensorflow_framework.so.2', 'libtensorflow_framework.so');
fs.writeFileSync(path.join(deps, 'tensorflow-dir'), `${tfDir}\n`);

// The binding goes where node-pre-gyp (tfjs-node's loader) looks for it.
const bindingPath = require('@mapbox/node-pre-gyp').find(path.join(pkgDir, 'package.json'));
const napi = /napi-v(\d+)/.exec(bindingPath)?.[1] ?? '8';
const npmDir = process.env.npm_execpath
  ? path.resolve(path.dirname(process.env.npm_execpath), '..')
  : path.join(run('npm', ['root', '-g']).trim(), 'npm');
const nodeGyp = path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
if (!fs.existsSync(nodeGyp)) fail(`npm's bundled node-gyp not found at ${nodeGyp}`);
const nodeDir = path.resolve(path.dirname(process.execPath), '..');
if (!fs.existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) fail(`Node headers not found under ${nodeDir}/include/node`);
say('compiling the tfjs-node binding against it (about 10 s)');
try {
  run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--module_name=tfjs_binding',
    `--module_path=${path.relative(pkgDir, path.dirname(bindingPath))}`, `--napi_build_version=${napi}`],
  { cwd: pkgDir, env: { ...process.env, LDFLAGS: `${process.env.LDFLAGS ?? ''} -Wl,-rpath,${tfDir}`.trim() } });
} catch (e) {
  fail(`node-gyp failed:\n${(e.stdout ?? '') + (e.stderr ?? e.message)}`);
}
fs.mkdirSync(path.dirname(bindingPath), { recursive: true });
fs.copyFileSync(path.join(pkgDir, 'build', 'Release', 'tfjs_binding.node'), bindingPath);

// Prove it: load the backend in a fresh process and run one convolution.
try {
  const out = run(process.execPath, ['-e', `
    process.env.TF_CPP_MIN_LOG_LEVEL = '2';
    const tf = require('@tensorflow/tfjs-node');
    const y = tf.conv2d(tf.ones([1, 8, 8, 2]), tf.ones([3, 3, 2, 4]), 1, 'same');
    console.log(tf.getBackend() + ' ' + y.dataSync()[9 * 4]);`]).trim();
  if (out !== 'tensorflow 18') fail(`the built backend gave '${out}', expected 'tensorflow 18'`);
} catch (e) {
  fail(`the built binding does not load:\n${e.stderr ?? e.message}`);
}
say(`ready: the daemon, CLI and benchmarks now use the 'tensorflow' backend (SPARSECELL_BACKEND=wasm forces wasm)`);
