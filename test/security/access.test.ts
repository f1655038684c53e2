/**
 * Issue 16, findings 4 and 8 (bind check): no web page can drive a loopback daemon (Origin), DNS rebinding is
 * refused (Host), the store path goes only to token holders, and a name that merely looks like 127.x is not loopback.
 */
import { expect } from 'chai';
import { startTestDaemon, spawnDaemon, waitExit, tempHome, cleanup, type TestDaemon } from '../helpers/daemon.js';
import { SparsecellClient } from '../../clients/typescript/src/client.js';
import { bindsLoopback, isLoopbackAddress } from '../../server/config.js';
import { upgradeStatus } from '../helpers/rpc.js';

describe('security: origins, hosts and the bind check', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon();
  });
  after(async () => d.stop());

  it('refuses browser origins that were not allowed; requests without Origin stay allowed', async () => {
    const evil = await upgradeStatus(d.url, { origin: 'http://evil.example' });
    expect(evil.status).to.equal(403);
    expect(evil.body).to.match(/--allow-origin/);
    expect((await upgradeStatus(d.url, { origin: 'null' })).status).to.equal(403);
    expect((await upgradeStatus(d.url, {})).status).to.equal(101);
    // websocket-client (napari, Python scripts) sends the daemon's own address as Origin: no page can have it
    const port = d.daemon.rpc.port;
    expect((await upgradeStatus(d.url, { origin: `http://127.0.0.1:${port}` })).status).to.equal(101);
    expect((await upgradeStatus(d.url, { origin: `http://localhost:${port}` })).status).to.equal(101);
    expect((await upgradeStatus(d.url, { origin: `http://localhost:${port + 1}` })).status).to.equal(403);
    expect((await upgradeStatus(d.url, { origin: `http://127.0.0.1.evil.example:${port}` })).status).to.equal(403);
  });

  it('refuses a Host that is not a loopback name on a loopback bind (DNS rebinding)', async () => {
    const port = d.daemon.rpc.port;
    expect((await upgradeStatus(d.url, { host: `evil.example:${port}` })).status).to.equal(403);
    expect((await upgradeStatus(d.url, { host: `127.0.0.1.evil.example:${port}` })).status).to.equal(403);
    expect((await upgradeStatus(d.url, { host: `localhost:${port}` })).status).to.equal(101);
    expect((await upgradeStatus(d.url, { host: `[::1]:${port}` })).status).to.equal(101);
  });

  it('--allow-origin lets exactly that origin in', async () => {
    const d2 = await startTestDaemon({ allowOrigins: ['http://localhost:8080'] });
    try {
      expect((await upgradeStatus(d2.url, { origin: 'http://localhost:8080' })).status).to.equal(101);
      expect((await upgradeStatus(d2.url, { origin: 'http://localhost:8081' })).status).to.equal(403);
    } finally {
      await d2.stop();
    }
  });

  it('server.info reveals the store path only to clients that authenticated with the token', async () => {
    const c = await d.connect();
    expect(await c.call('server.info', {})).to.not.have.property('home');
    await c.close();
    const d2 = await startTestDaemon({ token: 'correct-horse' });
    try {
      const c2 = await d2.connect({ token: 'correct-horse' });
      expect((await c2.call('server.info', {})).home).to.equal(d2.home);
      await c2.close();
    } finally {
      await d2.stop();
    }
  });

  it('checks the resolved addresses of --host, not its spelling', async () => {
    expect(isLoopbackAddress('127.0.0.1')).to.equal(true);
    expect(isLoopbackAddress('::ffff:127.0.0.2')).to.equal(true);
    expect(isLoopbackAddress('0:0:0:0:0:0:0:1')).to.equal(true);
    expect(isLoopbackAddress('127.evil.example')).to.equal(false);
    expect(isLoopbackAddress('10.0.0.1')).to.equal(false);
    expect(await bindsLoopback('localhost')).to.equal(true);
    expect(await bindsLoopback('127.evil.example')).to.equal(false);
    let err: Error | undefined;
    try {
      await (await startTestDaemon({ host: '127.evil.example' })).stop();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/refusing to bind 127\.evil\.example without a token/);
  });

  it('the serve command refuses --host 127.evil.example without a token', async () => {
    const home = tempHome();
    try {
      let err: Error | undefined;
      try {
        const c = await spawnDaemon(['--home', home, '--host', '127.evil.example']);
        c.proc.kill('SIGKILL');
        await waitExit(c.proc);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/refusing to bind 127\.evil\.example/);
      // and a real loopback name still works, origins from the environment included
      const ok = await spawnDaemon(['--home', home, '--host', 'localhost'], { SPARSECELL_ALLOW_ORIGIN: 'http://localhost:9000' });
      expect((await upgradeStatus(ok.url, { origin: 'http://localhost:9000' })).status).to.equal(101);
      expect((await upgradeStatus(ok.url, { origin: 'http://evil.example' })).status).to.equal(403);
      const c = await SparsecellClient.connect(ok.url);
      expect((await c.call('server.info', {})).name).to.equal('sparsecell');
      await c.close();
      ok.proc.kill('SIGTERM');
      await waitExit(ok.proc);
    } finally {
      cleanup(home);
    }
  });
});
