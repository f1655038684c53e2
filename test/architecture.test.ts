/**
 * Module boundaries from ARCHITECTURE.md, checked on the sources: imports flow one way, only rpc/ knows ws,
 * only storage/ knows fs, only main.ts reads argv/env, protocol/ never imports server/, pure modules never
 * import tfjs, and the server never uses console.*.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../scripts/codegen.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const src = (rel: string) => files(join(ROOT, rel)).map((p) => ({ rel: relative(ROOT, p), text: readFileSync(p, 'utf8') }));
/** Source without comments (so a comment may mention process.env or console.log). */
const code = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
const imports = (text: string) =>
  [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]);

describe('architecture: module boundaries', () => {
  const server = src('server');
  const protocol = src('protocol/src');

  it('only server/rpc imports ws', () => {
    const bad = server.filter((f) => !f.rel.startsWith('server/rpc/') && imports(f.text).some((i) => i === 'ws'));
    expect(bad.map((f) => f.rel)).to.deep.equal([]);
  });

  it('only server/storage imports fs', () => {
    const bad = server.filter((f) => !f.rel.startsWith('server/storage/') && imports(f.text).some((i) => /^(node:)?fs(\/promises)?$/.test(i)));
    expect(bad.map((f) => f.rel)).to.deep.equal([]);
  });

  it('only server/main.ts reads process.argv and process.env', () => {
    // tensor/backend.ts hides argv from tfjs-node's binding finder while it loads (node-pre-gyp parses it), and
    // restores it; it reads nothing from it.
    const hidesArgv = (f: { rel: string; text: string }) =>
      f.rel === 'server/tensor/backend.ts' ? code(f.text).replace(/const argv = process\.argv;|process\.argv = argv(\.slice\(0, 2\))?;/g, '') : code(f.text);
    const bad = server.filter((f) => f.rel !== 'server/main.ts' && /process\.(argv|env)\b/.test(hidesArgv(f)));
    expect(bad.map((f) => f.rel)).to.deep.equal([]);
  });

  it('protocol/ never imports server/', () => {
    const bad = protocol.filter((f) => imports(f.text).some((i) => i.includes('/server/')));
    expect(bad.map((f) => f.rel)).to.deep.equal([]);
  });

  it('imports flow one way: rpc -> handlers -> sessions -> {training, models, storage} -> {imaging, metrics}', () => {
    const layer = (rel: string) => rel.split('/')[1];
    const forbidden: Record<string, string[]> = {
      handlers: ['rpc'],
      sessions: ['rpc', 'handlers'],
      training: ['rpc', 'handlers'],
      models: ['rpc', 'handlers', 'sessions', 'training', 'storage'],
      storage: ['rpc', 'handlers', 'sessions', 'training', 'models'],
      imaging: ['rpc', 'handlers', 'sessions', 'training', 'models', 'storage', 'metrics'],
      metrics: ['rpc', 'handlers', 'sessions', 'training', 'models', 'storage'],
      tensor: ['rpc', 'handlers', 'sessions', 'training', 'storage'],
      bioimageio: ['rpc', 'handlers', 'sessions', 'training', 'storage'],
      cluster: ['rpc', 'handlers'],
    };
    const bad: string[] = [];
    for (const f of server) {
      const from = layer(f.rel);
      for (const i of imports(f.text)) {
        if (!i.startsWith('.')) continue;
        const target = relative(ROOT, join(ROOT, f.rel, '..', i));
        if (!target.startsWith('server/')) continue;
        if ((forbidden[from] ?? []).includes(layer(target))) bad.push(`${f.rel} -> ${target}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it('only server/cluster imports bullmq and ioredis, and the embedded daemon loads server/cluster only on demand', () => {
    const bad = server.filter((f) => !f.rel.startsWith('server/cluster/') && imports(f.text).some((i) => i === 'bullmq' || i === 'ioredis'));
    expect(bad.map((f) => f.rel)).to.deep.equal([]);
    // Outside server/cluster, the cluster code is reached only through a dynamic import(), so `npm start` needs no Redis.
    const staticCluster = /(?:^|\n)\s*(?:import|export)[^'"]*from\s+['"][^'"]*\/cluster\/[^'"]+['"]/;
    const users = server.filter((f) => !f.rel.startsWith('server/cluster/') && imports(f.text).some((i) => i.includes('/cluster/')));
    expect(users.map((f) => f.rel).sort()).to.deep.equal(['server/cli/serve.ts', 'server/cli/worker.ts']);
    expect(users.filter((f) => staticCluster.test(f.text)).map((f) => f.rel)).to.deep.equal([]);
  });

  it('pure modules (imaging, metrics, family targets/postprocess/config) never import tfjs', () => {
    const pure = server.filter(
      (f) => /^server\/(imaging|metrics|study)\//.test(f.rel) || /^server\/models\/[a-z]+\/(targets|postprocess|config|instances)\.ts$/.test(f.rel),
    );
    expect(pure.length).to.be.greaterThan(10);
    const bad = pure.filter((f) => imports(f.text).some((i) => i.startsWith('@tensorflow/')));
    expect(bad.map((f) => f.rel)).to.deep.equal([]);
  });

  it('no console.* in server code', () => {
    const bad = server.filter((f) => /\bconsole\.(log|error|warn|info|debug)\(/.test(code(f.text)));
    expect(bad.map((f) => f.rel)).to.deep.equal([]);
  });
});
