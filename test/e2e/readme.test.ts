/**
 * README's protocol section, read by a client that knows only the README and rpc.discover: every method in its
 * table with exactly the params the served OpenRPC document declares (optional ones marked `?`), the $/progress
 * fields it names, and its example frames, sent raw to a real daemon and checked with the official tooling.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { openRpcChecker, type OpenRpcChecker } from '../helpers/openrpc.js';
import { ROOT } from '../../scripts/codegen.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('\n## Protocol\n'), readme.indexOf('\n## Live mode\n'));

/** `method {a, b?, c: X \| {y}}` mentions in the text: name -> params as written (null when no braces follow). */
export function methodMentions(text: string): Map<string, { name: string; optional: boolean }[] | null> {
  const out = new Map<string, { name: string; optional: boolean }[] | null>();
  for (const m of text.matchAll(/`([a-z]+\.[A-Za-z]+)( \{)?/g)) {
    if (!m[2]) {
      if (!out.has(m[1])) out.set(m[1], null);
      continue;
    }
    let depth = 1,
      i = m.index! + m[0].length;
    const start = i;
    for (; i < text.length && depth > 0; i++) depth += text[i] === '{' ? 1 : text[i] === '}' ? -1 : 0;
    const inner = text.slice(start, i - 1);
    const items: string[] = [];
    let d = 0,
      cur = '';
    for (const ch of inner) {
      if (ch === ',' && d === 0) {
        items.push(cur);
        cur = '';
        continue;
      }
      d += ch === '{' ? 1 : ch === '}' ? -1 : 0;
      cur += ch;
    }
    items.push(cur);
    out.set(
      m[1],
      items
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => {
          const name = s.split(':')[0].trim();
          return { name: name.replace(/\?$/, ''), optional: name.endsWith('?') };
        }),
    );
  }
  return out;
}

describe('e2e: the README protocol section against rpc.discover and a real daemon', () => {
  let d: TestDaemon;
  let c: RawConnection;
  let check: OpenRpcChecker;
  let doc: { methods: { name: string; params: { name: string; required: boolean }[] }[] };
  before(async () => {
    d = await startTestDaemon();
    c = await RawConnection.open(d.url);
    doc = (await c.call('rpc.discover', {})).result as typeof doc;
    check = await openRpcChecker(doc);
  });
  after(async () => {
    c.close();
    await d.stop();
  });

  it('the method table lists every method with exactly its declared params, optional ones marked ?', () => {
    const mentions = methodMentions(section);
    const problems: string[] = [];
    for (const m of doc.methods) {
      if (!mentions.has(m.name)) {
        problems.push(`${m.name} is not in the README`);
        continue;
      }
      const written = mentions.get(m.name);
      if (written === null) {
        if (m.params.length) problems.push(`${m.name} has params but the README shows none`);
        continue;
      }
      const want = m.params.map((p) => `${p.name}${p.required ? '' : '?'}`).sort();
      const got = written!.map((p) => `${p.name}${p.optional ? '?' : ''}`).sort();
      if (JSON.stringify(want) !== JSON.stringify(got)) problems.push(`${m.name}: README {${got.join(', ')}}, rpc.discover {${want.join(', ')}}`);
    }
    for (const name of mentions.keys())
      if (!doc.methods.some((m) => m.name === name) && /^(server|session|image|labels|model|rpc)\./.test(name))
        problems.push(`README names ${name}, which rpc.discover does not`);
    expect(mentions.size).to.be.greaterThan(10);
    expect(problems).to.deep.equal([]);
  });

  it('the $/progress fields the README names are declared', () => {
    const m = /`\$\/progress \{([^}]*)\}`/.exec(section);
    expect(m, '$/progress {…} in the README').to.not.equal(null);
    const fields = m![1].split(',').map((s) => s.split(':')[0].trim());
    expect(fields).to.include.members(['token', 'kind', 'percentage', 'state']);
    const schema = (doc as unknown as { components: { 'x-notifications': Record<string, { params: { properties: object } }> } }).components['x-notifications'][
      '$/progress'
    ].params;
    for (const f of fields) expect(schema.properties, f).to.have.property(f);
  });

  it('every example frame in the README passes the official validator and gets a valid result', async () => {
    const frames = section
      .split('\n')
      .filter((l) => l.startsWith('{"jsonrpc"'))
      .map((l) => JSON.parse(l) as { id: number; method: string; params: unknown });
    expect(frames.length).to.be.greaterThan(2);
    for (const f of frames) {
      expect(check.params(f.method, f.params), f.method).to.deep.equal([]);
      const r = await c.call(f.method, f.params);
      expect(r.error, f.method).to.equal(undefined);
      expect(check.result(f.method, r.result), f.method).to.deep.equal([]);
    }
  });
});
