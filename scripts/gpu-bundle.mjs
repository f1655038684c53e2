#!/usr/bin/env node
/**
 * `scripts/gpu-check.sh --bundle FILE.tar.xz`: everything the GPU check needs on a bare Linux x86-64 machine
 * without network, in one archive of at most 64 MiB: bin/node (this Node), the built project (dist/, package.json,
 * the Keras reference script, the check scripts), the production npm packages with what Node never loads left
 * out (source maps, browser bundles, type declarations), the tfjs-node binding built here, and one DSB2018 image
 * and mask for the live bench. Unpack and run `sparsecell/scripts/gpu-check.sh`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT = 64 * 1024 * 1024;
const out = path.resolve(process.argv[2] ?? 'sparsecell-gpu-check.tar.xz');
const LIVE_IMAGE = '10ba6cbee4873b32d5626a118a339832ba2b15d8643f66dddcd7cb2ec80fbc28';

function fail(msg) {
  process.stderr.write(`gpu-bundle: ${msg}\n`);
  process.exit(1);
}

if (!fs.existsSync(path.join(root, 'dist', 'server', 'main.js'))) fail('build first (npm run build)');
fs.mkdirSync(path.dirname(out), { recursive: true });
const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'sparsecell-bundle-'));
const proj = path.join(stage, 'sparsecell');

/** Files Node never loads from a package: maps, declarations, browser/ESM bundles, sources, docs. */
const SKIP = [/\.map$/, /\.d\.[cm]?ts$/, /\.md$/i, /\.html$/, /\.min\.js$/, /\.es2017\./, /\.fesm\./, /(^|\/)miniprogram\//, /tsconfig/];
/** tfjs-node: its C++ sources, build tree and links to this machine's TensorFlow stay here. */
const SKIP_TFJS_NODE = /^(deps|binding|build|scripts)\//;
const BROWSER_BUNDLES = /^dist\/(tf|tf-[a-z-]+)\.js$/; // UMD bundles beside the .node.js entry points

function copyTree(src, dst, filter = () => true) {
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name), d = path.join(dst, e.name);
    if (e.isDirectory()) {
      if (e.name === 'node_modules') continue; // nested packages come from the dependency list
      copyTree(s, d, filter);
    } else if (e.isFile() && filter(s)) {
      fs.mkdirSync(path.dirname(d), { recursive: true });
      fs.copyFileSync(s, d);
    }
  }
}

// The project.
for (const d of ['dist/server', 'dist/protocol', 'dist/clients/typescript', 'dist/bench', 'dist/scripts']) copyTree(path.join(root, d), path.join(proj, d), (f) => !f.endsWith('.map'));
for (const f of ['package.json', 'bench/native/unet_keras.py', 'scripts/gpu-check.sh', 'scripts/native-env.mjs']) {
  fs.mkdirSync(path.dirname(path.join(proj, f)), { recursive: true });
  fs.copyFileSync(path.join(root, f), path.join(proj, f));
}
// Production packages (and tfjs-node, installed beside them by `npm run native`), pruned.
const pkgs = execFileSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: root, encoding: 'utf8' })
  .split('\n').filter((p) => p.includes(`${path.sep}node_modules${path.sep}`) && !p.includes('tfjs-node-gpu'));
const binding = pkgs.find((p) => p.endsWith(path.join('@tensorflow', 'tfjs-node')));
if (!binding || !fs.readdirSync(path.join(binding, 'lib')).some((d) => fs.existsSync(path.join(binding, 'lib', d, 'tfjs_binding.node')))) {
  fail('the tfjs-node binding is not built here (npm run native)');
}
for (const p of pkgs) {
  const rel = path.relative(root, p);
  copyTree(p, path.join(proj, rel), (f) => {
    const r = path.relative(p, f).split(path.sep).join('/');
    if (r.endsWith('.node') || r.endsWith('.wasm') || r === 'package.json') return true;
    if (p === binding && SKIP_TFJS_NODE.test(r)) return false;
    return !SKIP.some((re) => re.test(r)) && !BROWSER_BUNDLES.test(r);
  });
}
// Node itself and one live-bench image.
fs.mkdirSync(path.join(proj, 'bin'), { recursive: true });
fs.copyFileSync(process.execPath, path.join(proj, 'bin', 'node'));
fs.chmodSync(path.join(proj, 'bin', 'node'), 0o755);
const dsb = path.join(root, '..', 'shared', 'data', 'dsb2018-train');
for (const sub of ['images', 'masks']) {
  const f = path.join(dsb, sub, `${LIVE_IMAGE}.tif`);
  if (fs.existsSync(f)) {
    fs.mkdirSync(path.join(stage, 'shared', 'data', 'dsb2018-train', sub), { recursive: true });
    fs.copyFileSync(f, path.join(stage, 'shared', 'data', 'dsb2018-train', sub, `${LIVE_IMAGE}.tif`));
  }
}
execFileSync('tar', ['-cJf', out, '-C', stage, '.'], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
fs.rmSync(stage, { recursive: true, force: true });
const size = fs.statSync(out).size;
process.stdout.write(`gpu-bundle: ${out} ${(size / 2 ** 20).toFixed(1)} MiB (limit 64 MiB); on the GPU machine: tar -xJf ${path.basename(out)} && sparsecell/scripts/gpu-check.sh\n`);
if (size > LIMIT) fail(`the bundle is ${(size / 2 ** 20).toFixed(1)} MiB, over 64 MiB`);
