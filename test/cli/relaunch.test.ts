/**
 * `sparsecell serve` started without --single-threaded-gc starts its daemon again under it and supervises it
 * (server/cli/relaunch.ts): the child serves, signals reach it, it shuts down gracefully when the supervisor is
 * killed, and the supervisor exits with its code. `--gc parallel` serves in-process; a bad --gc is refused.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SparsecellClient } from '../../clients/typescript/src/client.js';
import { parseGcMode, SERIAL_GC_FLAG, wantsRelaunch } from '../../server/cli/relaunch.js';
import { cleanup, MAIN_JS, spawnDaemon, waitExit } from '../helpers/daemon.js';

/** Linux: the processes whose parent is `pid`, with their command lines. */
function childrenOf(pid: number): Array<{ pid: number; cmdline: string[] }> {
  const out: Array<{ pid: number; cmdline: string[] }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push({ pid: Number(d), cmdline: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean) });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitGone(pid: number, ms: number): Promise<boolean> {
  for (const t = Date.now(); Date.now() - t < ms; await new Promise((r) => setTimeout(r, 50))) if (!alive(pid)) return true;
  return false;
}

describe('serve under --single-threaded-gc (relaunch and supervision)', function () {
  this.timeout(60000);
  let home: string;
  beforeEach(function () {
    if (process.platform !== 'linux') this.skip();
    home = mkdtempSync(join(tmpdir(), 'sparsecell-relaunch-'));
  });
  afterEach(() => cleanup(home));

  it('decides from --gc and the flags Node was started with', () => {
    expect(parseGcMode(undefined)).to.equal('serial');
    expect(parseGcMode('parallel')).to.equal('parallel');
    expect(() => parseGcMode('fast')).to.throw(/--gc must be "serial" or "parallel", got "fast"/);
    expect(wantsRelaunch('serial', [], false)).to.equal(true);
    expect(wantsRelaunch('serial', [SERIAL_GC_FLAG], false)).to.equal(false);
    expect(wantsRelaunch('serial', [], true), 'already relaunched').to.equal(false);
    expect(wantsRelaunch('parallel', [], false)).to.equal(false);
  });

  it('a plain `serve` serves from a child under the flag; SIGTERM to the supervisor stops both gracefully, exit 0', async () => {
    const d = await spawnDaemon(['--home', home, '--backend', 'wasm'], {}, { nodeArgs: [] });
    const kids = childrenOf(d.proc.pid!);
    expect(kids, 'one child').to.have.length(1);
    expect(kids[0].cmdline).to.include(SERIAL_GC_FLAG);
    expect(kids[0].cmdline).to.include(MAIN_JS);
    const c = await SparsecellClient.connect(d.url);
    expect((await c.call('server.info', {})).name).to.equal('sparsecell');
    await c.close();
    d.proc.kill('SIGTERM');
    expect(await waitExit(d.proc)).to.equal(0);
    expect(await waitGone(kids[0].pid, 10000), 'the child is gone').to.equal(true);
    expect(d.stderr() + '').to.not.match(/Error|FATAL/);
  });

  it('kill -9 of the supervisor: the daemon notices and shuts down gracefully (its store stays usable)', async () => {
    const d = await spawnDaemon(['--home', home, '--backend', 'wasm'], {}, { nodeArgs: [] });
    const [kid] = childrenOf(d.proc.pid!);
    const c = await SparsecellClient.connect(d.url);
    const { sessionId } = await c.call('session.create', { name: 'kept' });
    d.proc.kill('SIGKILL');
    const gone = await waitGone(kid.pid, 15000);
    if (!gone) process.kill(kid.pid, 'SIGKILL'); // leave no orphan behind when this fails
    expect(gone, 'the orphaned daemon exits').to.equal(true);
    await c.close().catch(() => {});
    const again = await spawnDaemon(['--home', home, '--backend', 'wasm']);
    const c2 = await SparsecellClient.connect(again.url);
    const list = await c2.call('session.list', {});
    expect(list.sessions.map((s: { sessionId: string }) => s.sessionId)).to.include(sessionId);
    await c2.close();
    again.proc.kill('SIGTERM');
    await waitExit(again.proc);
  });

  it('--gc parallel serves in-process; --gc with another value exits 1 naming the flag', async () => {
    const d = await spawnDaemon(['--home', home, '--backend', 'wasm', '--gc', 'parallel'], {}, { nodeArgs: [] });
    expect(childrenOf(d.proc.pid!).filter((k) => k.cmdline.includes(MAIN_JS))).to.have.length(0);
    d.proc.kill('SIGTERM');
    expect(await waitExit(d.proc)).to.equal(0);
    const bad = spawn(process.execPath, [MAIN_JS, 'serve', '--port', '0', '--home', home, '--gc', 'fast'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    bad.stderr.on('data', (x) => (err += x));
    expect(await waitExit(bad)).to.equal(1);
    expect(err).to.match(/--gc must be "serial" or "parallel"/);
  });
});
