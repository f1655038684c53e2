#!/usr/bin/env node
/**
 * The install step (`postinstall`, so it runs at the end of `npm ci` / `npm install`): builds the native
 * 'tensorflow' backend (scripts/setup-native.mjs) when a pip TensorFlow and a C++ toolchain are present, and
 * prints one line either way. It never fails the install: every problem becomes that one line, and the daemon
 * keeps the wasm backend. Without TensorFlow or a compiler it returns in well under a second.
 * SPARSECELL_NATIVE=0 skips it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeBlocker } from './native-env.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HINT = 'the daemon uses the wasm backend; `npm run native` builds the ~4x faster one';

function line(msg) {
  process.stdout.write(`[sparsecell install] ${msg}\n`);
}

/** The TensorFlow directory an existing binding was built against (setup-native records it), or null. */
function builtAgainst() {
  const pkg = path.join(root, 'node_modules', '@tensorflow', 'tfjs-node');
  try {
    const built = fs.readdirSync(path.join(pkg, 'lib')).some((d) => fs.existsSync(path.join(pkg, 'lib', d, 'tfjs_binding.node')));
    return built ? fs.readFileSync(path.join(pkg, 'deps', 'tensorflow-dir'), 'utf8').trim() : null;
  } catch {
    return null;
  }
}

function main() {
  if (process.env.SPARSECELL_NATIVE === '0') return line(`native backend skipped (SPARSECELL_NATIVE=0): ${HINT}`);
  const { reason, tfDir } = nativeBlocker();
  if (reason) return line(`native backend not built: ${reason}; ${HINT}`);
  if (builtAgainst() === fs.realpathSync(tfDir)) return line(`native 'tensorflow' backend already built against ${tfDir}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'setup-native.mjs')], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000, maxBuffer: 64 * 1024 * 1024,
  });
  const s = ((Date.now() - t0) / 1000).toFixed(0);
  if (r.status === 0) return line(`native 'tensorflow' backend built against ${tfDir} in ${s} s (SPARSECELL_BACKEND=wasm ignores it)`);
  // setup-native reports its failure as one "[native] …" line on stderr, maybe followed by a compiler log.
  const why = (r.stderr ?? '').split('\n').find((l) => l.startsWith('[native] '))?.slice(9)
    ?? (r.error ? r.error.message : `exit ${r.status ?? r.signal}`);
  let log = path.join(root, 'node_modules', '.sparsecell-native.log');
  try {
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(log, `${r.stdout ?? ''}\n${r.stderr ?? ''}`);
    log = `; log ${path.relative(root, log)}`;
  } catch {
    log = '';
  }
  return line(`native backend build failed after ${s} s (${why.split('\n')[0].slice(0, 200)}${log}); ${HINT}`);
}

try {
  main();
} catch (e) {
  line(`native backend not built: ${(e && e.message) || e}; ${HINT}`);
}
process.exitCode = 0;
