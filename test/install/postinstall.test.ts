/**
 * The install step (scripts/postinstall.mjs, run by `npm ci`): one line either way, never a failed install.
 * Missing Python / TensorFlow / compiler are simulated through the environment; a failing, crashing or hanging
 * build through a stand-in setup-native.mjs in a copy of the scripts (the real one would rebuild this
 * checkout's node_modules).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_ROOT, cleanup } from '../helpers/daemon.js';

const ROOT = join(DIST_ROOT, '..');
const SCRIPT = join(ROOT, 'scripts', 'postinstall.mjs');

function run(script: string, env: NodeJS.ProcessEnv, cwd = ROOT) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [script], {
    cwd,
    env: { ...process.env, SPARSECELL_TENSORFLOW_DIR: undefined, ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: r.status, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr, ms: Date.now() - t0 };
}

/** A directory with the files a pip TensorFlow has (empty: enough for the checks, not for a build). */
function fakeTensorFlow(dir: string): string {
  const tf = join(dir, 'tensorflow');
  mkdirSync(join(tf, 'include', 'tensorflow', 'c', 'eager'), { recursive: true });
  for (const f of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2', 'include/tensorflow/c/eager/c_api.h']) writeFileSync(join(tf, f), '');
  return tf;
}

/** A copy of the install scripts whose setup-native.mjs is `body` (a stand-in for the real build). */
function projectWith(dir: string, body: string): string {
  const root = join(dir, `project-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(root, 'scripts'), { recursive: true });
  for (const f of ['postinstall.mjs', 'native-env.mjs']) copyFileSync(join(ROOT, 'scripts', f), join(root, 'scripts', f));
  writeFileSync(join(root, 'scripts', 'setup-native.mjs'), body);
  writeFileSync(
    join(root, 'package.json'),
    JSON.stringify({ name: 'install-step-test', version: '1.0.0', private: true, scripts: { postinstall: 'node scripts/postinstall.mjs' } }),
  );
  return root;
}

describe('install step (npm ci postinstall)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-install-'));
  });
  after(() => cleanup(dir));

  it('package.json runs it as postinstall', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.postinstall).to.equal('node scripts/postinstall.mjs');
  });

  it('no Python (so no TensorFlow): exit 0, one line saying so and naming `npm run native`, in well under a second', () => {
    const r = run(SCRIPT, { PYTHON: join(dir, 'no-python') });
    expect(r.status).to.equal(0);
    expect(r.lines).to.have.length(1);
    expect(r.lines[0]).to.match(/^\[sparsecell install\] native backend not built: no pip TensorFlow found.*wasm.*`npm run native`/);
    expect(r.ms).to.be.lessThan(3000);
  });

  it('TensorFlow dir without libtensorflow: exit 0, one line naming the missing file', () => {
    const r = run(SCRIPT, { SPARSECELL_TENSORFLOW_DIR: dir });
    expect(r.status).to.equal(0);
    expect(r.lines).to.deep.equal([
      `[sparsecell install] native backend not built: ${join(dir, 'libtensorflow_cc.so.2')} is missing: not a pip TensorFlow 2.x install?; the daemon uses the wasm backend; \`npm run native\` builds the ~4x faster one`,
    ]);
  });

  it('no C++ compiler (CXX not found, or none on PATH): exit 0, one line each', () => {
    const tf = fakeTensorFlow(join(dir, 'a'));
    const noCxx = run(SCRIPT, { SPARSECELL_TENSORFLOW_DIR: tf, CXX: join(dir, 'no-such-c++') });
    expect(noCxx.status).to.equal(0);
    expect(noCxx.lines).to.have.length(1);
    expect(noCxx.lines[0]).to.match(/not built: no C\+\+ compiler \(CXX=.*no-such-c\+\+ not found\)/);
    // A PATH with python3 but neither c++/g++ nor make.
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const noTools = run(SCRIPT, { SPARSECELL_TENSORFLOW_DIR: tf, CXX: undefined, PATH: bin });
    expect(noTools.status).to.equal(0);
    expect(noTools.lines).to.have.length(1);
    expect(noTools.lines[0]).to.match(/not built: no C\+\+ compiler \(c\+\+ \/ g\+\+ not on PATH\)/);
  });

  it('SPARSECELL_NATIVE=0 skips it', () => {
    const r = run(SCRIPT, { SPARSECELL_NATIVE: '0', SPARSECELL_TENSORFLOW_DIR: fakeTensorFlow(join(dir, 'b')) });
    expect(r.status).to.equal(0);
    expect(r.lines).to.deep.equal([
      '[sparsecell install] native backend skipped (SPARSECELL_NATIVE=0): the daemon uses the wasm backend; `npm run native` builds the ~4x faster one',
    ]);
  });

  it('a build that fails, crashes or is killed: exit 0, one line with the reason and where the log is', () => {
    const tf = fakeTensorFlow(join(dir, 'c'));
    const cases: [string, RegExp][] = [
      [
        "process.stderr.write('[native] node-gyp failed:\\nerror: c_api.h: no such file\\n'); process.exit(1);",
        /build failed after \d+ s \(node-gyp failed:; log node_modules\/\.sparsecell-native\.log\)/,
      ],
      ["throw new Error('boom');", /build failed after \d+ s \(exit 1; log/],
      ["process.kill(process.pid, 'SIGKILL');", /build failed after \d+ s \(exit SIGKILL; log/],
    ];
    for (const [body, want] of cases) {
      const root = projectWith(dir, body);
      const r = run(join(root, 'scripts', 'postinstall.mjs'), { SPARSECELL_TENSORFLOW_DIR: tf }, root);
      expect(r.status, body).to.equal(0);
      expect(r.lines, body).to.have.length(1);
      expect(r.lines[0], body).to.match(want);
    }
  });

  it('a successful build reports where it built against', () => {
    const tf = fakeTensorFlow(join(dir, 'd'));
    const root = projectWith(dir, "process.stdout.write('[native] ready\\n');");
    const r = run(join(root, 'scripts', 'postinstall.mjs'), { SPARSECELL_TENSORFLOW_DIR: tf }, root);
    expect(r.status).to.equal(0);
    expect(r.lines).to.have.length(1);
    expect(r.lines[0]).to.match(new RegExp(`native 'tensorflow' backend built against ${tf} in \\d+ s`));
  });

  it('a real `npm install` whose build fails still succeeds and prints the line', function () {
    this.timeout(120000);
    const tf = fakeTensorFlow(join(dir, 'e'));
    const root = projectWith(dir, "process.stderr.write('[native] compiler exploded\\n'); process.exit(2);");
    const r = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund'], {
      cwd: root,
      env: { ...process.env, SPARSECELL_TENSORFLOW_DIR: tf },
      encoding: 'utf8',
      timeout: 110000,
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/\[sparsecell install\] native backend build failed after \d+ s \(compiler exploded; log/);
  });
});
