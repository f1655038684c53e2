/**
 * Regenerates protocol/openrpc.json, protocol/protocol.schema.json and docs/protocol.md from protocol/src.
 * Run: npm run codegen. test/protocol/generated.test.ts fails when the committed files are stale.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenRpc, buildSchemaBundle, stableJson } from '../protocol/src/openrpc.js';
import { buildProtocolDoc } from './protocol-doc.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
export function generated(): Record<string, string> {
  return {
    'protocol/openrpc.json': stableJson(buildOpenRpc(packageVersion())),
    'protocol/protocol.schema.json': stableJson(buildSchemaBundle()),
    'docs/protocol.md': buildProtocolDoc(),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [rel, text] of Object.entries(generated())) {
    writeFileSync(join(ROOT, rel), text);
    process.stdout.write(`wrote ${rel}\n`);
  }
}
