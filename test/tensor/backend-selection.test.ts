/**
 * Backend selection as a person meets it: auto picks the native 'tensorflow' backend when `npm run native` (or
 * the install step) built it, SPARSECELL_BACKEND overrides, a built binding that does not load falls back to
 * wasm with a reason, `serve` prints which backend it uses, and the thread settings reach TensorFlow.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ChildProcess } from 'node:child_process';
import { DIST_ROOT, cleanup, spawnDaemon, tempHome, waitExit } from '../helpers/daemon.js';
import { SparsecellClient } from '../../clients/typescript/src/client.js';
import { describeBackend } from '../../server/cli/serve.js';
import { resolveTfThreads } from '../../server/config.js';
import { tensorflowAvailable } from './helpers.js';

const ROOT_DIR = dirname(DIST_ROOT);
const BACKEND_JS = pathToFileURL(join(DIST_ROOT, 'server', 'tensor', 'backend.js')).href;

/** initBackend in a fresh worker thread (its own tfjs), returning its BackendInfo or its error message. */
function initInWorker(preferred: string, packages: Record<string, string>, argv: string[] = []): Promise<{ info?: Record<string, unknown>; error?: string }> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then((m) => m.initBackend(workerData.preferred, { packages: workerData.packages }))
      .then((info) => parentPort.postMessage({ info }), (e) => parentPort.postMessage({ error: String(e.message) }));`;
  const w = new Worker(code, { eval: true, argv, workerData: { url: BACKEND_JS, preferred, packages } });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => {
      void w.terminate();
      resolve(m);
    });
    w.once('error', reject);
  });
}

/** A tfjs-node look-alike whose compiled binding is not a loadable library (a broken native build). */
function brokenPackage(dir: string): string {
  const pkg = join(dir, 'broken-tfjs-node');
  mkdirSync(join(pkg, 'lib', 'napi-v8'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'broken-tfjs-node', main: 'index.js' }));
  writeFileSync(join(pkg, 'lib', 'napi-v8', 'tfjs_binding.node'), 'not a shared library\n');
  writeFileSync(join(pkg, 'index.js'), "require('./lib/napi-v8/tfjs_binding.node');\n");
  return pkg;
}

/** Spawn `serve` and wait for its "backend: …" line. */
async function serveUntilBackend(args: string[], env: NodeJS.ProcessEnv): Promise<{ proc: ChildProcess; url: string; line: string }> {
  const d = await spawnDaemon(args, env);
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no backend line: ${out} ${d.stderr()}`)), 30000);
    const check = () => {
      const m = /^backend: .*$/m.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[0]);
      }
    };
    d.proc.stdout!.on('data', (b) => {
      out += b;
      check();
    });
  });
  return { proc: d.proc, url: d.url, line };
}

async function stop(proc: ChildProcess): Promise<number | null> {
  proc.kill('SIGTERM');
  return waitExit(proc);
}

function threadNames(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`)
    .map((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    })
    .filter(Boolean);
}

/** Nice value of each thread of a process, by thread name (field 19 of /proc/PID/task/TID/stat). */
/** The nice value this test runs at; the daemons it spawns inherit it. */
const BASE_NICE = getPriority();

function threadNice(pid: number): Array<{ tid: number; name: string; nice: number }> {
  return readdirSync(`/proc/${pid}/task`).map((t) => {
    const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return { tid: Number(t), name, nice: Number(fields[19 - 3]) };
  });
}

describe('backend selection', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparsecell-backend-'));
  });
  after(() => cleanup(dir));

  it('a built native binding that does not load falls back to wasm, naming the package and the reason', async () => {
    const r = await initInWorker('auto', { 'tfjs-node-gpu': join(dir, 'absent'), 'tfjs-node': brokenPackage(dir) });
    expect(r.error).to.equal(undefined);
    expect(r.info!.name).to.equal('wasm');
    expect(r.info!.fallback)
      .to.be.a('string')
      .and.match(/broken-tfjs-node.* is built but does not load \(.+\).*npm run native/);
    // The line `serve` prints carries the reason.
    expect(describeBackend(r.info as never))
      .to.include('does not load')
      .and.include('npm run native');
  });

  it('no native build at all: auto picks wasm silently; asking for tfjs-node explicitly is an error that says what to run', async () => {
    const absent = { 'tfjs-node-gpu': join(dir, 'absent'), 'tfjs-node': join(dir, 'absent2') };
    const r = await initInWorker('auto', absent);
    expect(r.info!.name).to.equal('wasm');
    expect(r.info!.fallback).to.equal(undefined);
    const e = await initInWorker('tfjs-node', absent);
    expect(e.error).to.match(/tfjs-node is not available.*npm run native/);
    const b = await initInWorker('tfjs-node', { 'tfjs-node': brokenPackage(join(dir, 'b2')) });
    expect(b.error).to.match(/does not load/);
  });

  it("the program's own flags do not move where tfjs-node looks for its binding (`--dir X`, `-C X`)", async () => {
    // node-pre-gyp (tfjs-node's binding finder) parses process.argv: `bench suggest-study --dir out` made it look
    // under out/ and the study silently ran on wasm.
    const native = await tensorflowAvailable();
    for (const argv of [
      ['suggest-study', '--dir', join(dir, 'out')],
      ['-C', join(dir, 'elsewhere')],
    ]) {
      const r = await initInWorker('auto', {}, argv);
      expect(r.error, argv.join(' ')).to.equal(undefined);
      expect(r.info!.fallback, argv.join(' ')).to.equal(undefined);
      expect(r.info!.name, argv.join(' ')).to.equal(native ? 'tensorflow' : 'wasm');
    }
  });

  it('an unknown backend name is refused, never a silent fall-back to the stock cpu backend', async () => {
    const r = await initInWorker('tensorflow', {});
    expect(r.info, 'must not initialise any backend').to.equal(undefined);
    expect(r.error).to.match(/unknown backend "tensorflow"/);
  });

  it('serve prints its backend: tensorflow when built (auto), wasm when SPARSECELL_BACKEND=wasm; server.info agrees', async () => {
    const native = await tensorflowAvailable();
    // scripts/check-full-wheel.sh: the binding was just built, so not finding it is a failure, not a wasm run.
    if (process.env.SPARSECELL_EXPECT_NATIVE === '1') expect(native, 'native backend built').to.equal(true);
    const home = tempHome();
    try {
      for (const [env, want] of [
        [{ SPARSECELL_BACKEND: undefined }, native ? 'tensorflow' : 'wasm'],
        [{ SPARSECELL_BACKEND: 'wasm' }, 'wasm'],
      ] as const) {
        const d = await serveUntilBackend(['--home', home], env);
        try {
          expect(d.line).to.match(new RegExp(`^backend: ${want}\\b`));
          if (want === 'wasm' && env.SPARSECELL_BACKEND === 'wasm') expect(d.line).to.include('SPARSECELL_BACKEND');
          const c = await SparsecellClient.connect(d.url);
          const info = (await c.call('server.info', {})).backend;
          await c.close();
          expect(info.name).to.equal(want);
          expect(info.devices?.[0]?.type).to.equal('CPU');
          expect(info.devices![0].cores).to.be.greaterThan(0);
          if (want === 'tensorflow') expect(info.gpu).to.equal(false); // no GPU on the test machines
          // serve's default: TensorFlow's threads at nice 10, the event loop (tid = pid) at the nice it was started
          // with (this test's own: CI may run everything under `nice`; a base above 10 is never raised).
          if (want === 'tensorflow' && process.platform === 'linux') {
            const nice = threadNice(d.proc.pid!);
            expect(nice.find((t) => t.tid === d.proc.pid)!.nice).to.equal(BASE_NICE);
            expect(nice.filter((t) => t.name === 'tf_Compute').map((t) => t.nice)).to.include(Math.max(BASE_NICE, 10));
          }
        } finally {
          // A clean exit: compute workers start with the daemon now, and end with it (no crash, no hang).
          expect(await stop(d.proc), 'exit code after SIGTERM').to.equal(0);
        }
      }
    } finally {
      cleanup(home);
    }
  });

  it('on wasm, the line names the one command that makes training ~4x faster', () => {
    const line = describeBackend({ name: 'wasm', simd: true, threads: 1 });
    expect(line).to.match(/^backend: wasm \(SIMD\); training is ~4x faster .*`npm run native` in \//);
    // where to run it: the package's own folder (a global install lives elsewhere than the working directory)
    expect(line).to.include(`in ${ROOT_DIR} `);
    expect(existsSync(join(ROOT_DIR, 'package.json'))).to.equal(true);
    expect(describeBackend({ name: 'wasm', simd: true, threads: 1 }, 'auto', '/opt/x')).to.include('`npm run native` in /opt/x (');
    expect(
      describeBackend({
        name: 'tensorflow',
        threads: 3,
        interOpThreads: 1,
        gpu: true,
        devices: [{ type: 'GPU', name: 'NVIDIA A100', memoryBytes: 40 * 2 ** 30 }],
      }),
    ).to.equal('backend: tensorflow (libtensorflow), training on the GPU (NVIDIA A100, 40 GiB), 3 intra-op / 1 inter-op threads');
  });
});

describe('TensorFlow threads', () => {
  it('default leaves a core to the event loop; --tf-threads / SPARSECELL_TF_THREADS parse INTRA[,INTER]', () => {
    expect(resolveTfThreads(undefined, 2)).to.deep.equal({ intra: 1, inter: 1 });
    expect(resolveTfThreads(undefined, 1)).to.deep.equal({ intra: 1, inter: 1 });
    expect(resolveTfThreads('', 16)).to.deep.equal({ intra: 15, inter: 1 });
    expect(resolveTfThreads('3', 2)).to.deep.equal({ intra: 3, inter: 1 });
    expect(resolveTfThreads(' 2, 4 ', 2)).to.deep.equal({ intra: 2, inter: 4 });
    expect(resolveTfThreads('0,0', 2)).to.deep.equal({ intra: 0, inter: 0 });
    for (const bad of ['x', '-1', '1,2,3', '1.5', '99999']) expect(() => resolveTfThreads(bad, 2), bad).to.throw(/tf-threads must be/);
  });

  it('the settings reach TensorFlow: its thread pools in the daemon process have the requested sizes and run at --compute-nice 10', async function () {
    if (process.platform !== 'linux' || !(await tensorflowAvailable())) this.skip();
    const home = tempHome();
    const counts: Record<string, { compute: number; all: number; line: string }> = {};
    try {
      for (const spec of ['1,3', '4,2']) {
        const d = await serveUntilBackend(['--home', home, '--tf-threads', spec, '--compute-nice', '10'], { SPARSECELL_BACKEND: 'tfjs-node' });
        try {
          const names = threadNames(d.proc.pid!);
          // TensorFlow names its inter-op pool threads tf_Compute; intra-op (Eigen) threads are unnamed.
          counts[spec] = { compute: names.filter((n) => n === 'tf_Compute').length, all: names.length, line: d.line };
          // The compute worker lowered its priority before loading TensorFlow, whose threads inherit it; the
          // event loop (main thread, tid = pid) keeps the daemon's.
          const nice = threadNice(d.proc.pid!);
          expect(nice.find((t) => t.tid === d.proc.pid)!.nice).to.equal(BASE_NICE);
          const tfThreads = nice.filter((t) => t.name === 'tf_Compute');
          expect(tfThreads.length).to.be.greaterThan(0);
          for (const t of tfThreads) expect(t.nice, `${t.name} ${t.tid}`).to.equal(Math.max(BASE_NICE, 10));
        } finally {
          await stop(d.proc);
        }
      }
    } finally {
      cleanup(home);
    }
    expect(counts['1,3'].line).to.include('1 intra-op / 3 inter-op threads');
    expect(counts['1,3'].compute).to.equal(3);
    expect(counts['4,2'].compute).to.equal(2);
    // Three more intra-op threads and one fewer inter-op thread; everything else is the same process.
    expect(counts['4,2'].all - counts['1,3'].all).to.equal(3 - 1);
  });

  it('an explicitly requested backend that is missing: serve says so and still exits cleanly on SIGTERM', async () => {
    const home = tempHome();
    try {
      const d = await serveUntilBackend(['--home', home, '--backend', 'tfjs-node-gpu'], {});
      expect(d.line).to.match(/^backend: not available \(@tensorflow\/tfjs-node-gpu is not available/);
      expect(await stop(d.proc)).to.equal(0);
    } finally {
      cleanup(home);
    }
  });

  it('a malformed --tf-threads stops serve with a message naming the flag', async () => {
    const err = await spawnDaemon(['--home', tempHome(), '--tf-threads', 'many']).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err).to.match(/tf-threads must be INTRA or INTRA,INTER/);
    const err2 = await spawnDaemon(['--home', tempHome()], { SPARSECELL_BACKEND: 'gpu' }).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err2).to.match(/backend must be one of auto, .*got "gpu"/);
  });
});
