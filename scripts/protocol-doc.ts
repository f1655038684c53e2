/**
 * Builds docs/protocol.md, the method reference (params, results, errors, notifications, structs), from the
 * METHODS table and the other protocol/src declarations. Written by `npm run codegen`; test/protocol checks
 * that the committed file is current.
 */
import type { TSchema } from '@sinclair/typebox';
import { ERROR_DESCRIPTIONS, ErrorCode, type ErrorCodeName } from '../protocol/src/errors.js';
import { METHODS, type MethodSpec } from '../protocol/src/methods.js';
import { NOTIFICATIONS } from '../protocol/src/progress.js';
import { STRUCTS } from '../protocol/src/types.js';

type Schema = Record<string, any>;

const plain = (s: unknown) => JSON.parse(JSON.stringify(s)) as Schema;
/** Object structs get a section of their own and are linked; enums and Region are written out where used. */
const LINKED = new Set(
  STRUCTS.map((s) => plain(s))
    .filter((s) => s.type === 'object')
    .map((s) => s.$id as string),
);
/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens (`labels.update` -> labelsupdate). */
const anchor = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function range(lo: unknown, hi: unknown, exclusiveLo?: unknown): string {
  if (exclusiveLo !== undefined) return ` > ${exclusiveLo}`;
  if (lo !== undefined && hi !== undefined) return ` ${lo}–${hi}`;
  if (lo !== undefined) return ` ≥ ${lo}`;
  if (hi !== undefined) return ` ≤ ${hi}`;
  return '';
}

/** A one-line type: `integer ≥ 0`, `"signed" | "offset1"`, `[NdArray](#ndarray)`, `array (4) of integer ≥ 0`. */
export function typeText(s: Schema, top = false): string {
  if (!top && typeof s.$id === 'string' && LINKED.has(s.$id)) return `[${s.$id}](#${anchor(s.$id)})`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.anyOf)) return s.anyOf.map((x: Schema) => typeText(x)).join(' | ');
  switch (s.type) {
    case 'string':
      return 'string' + (s.maxLength !== undefined ? ` (≤ ${s.maxLength} chars)` : '') + (s.pattern ? ` \`${s.pattern}\`` : '');
    case 'integer':
    case 'number':
      return s.type + range(s.minimum, s.maximum, s.exclusiveMinimum);
    case 'boolean':
      return 'boolean';
    case 'array': {
      const n =
        s.minItems !== undefined && s.minItems === s.maxItems
          ? ` (${s.minItems})`
          : s.minItems !== undefined || s.maxItems !== undefined
            ? ` (${s.minItems ?? 0}–${s.maxItems ?? '…'})`
            : '';
      return `array${n} of ${typeText(s.items ?? {})}`;
    }
    case 'object':
      return s.properties ? 'object' : 'object (any keys)';
    default:
      return 'any JSON value';
  }
}

/** Table rows for an object's fields; nested inline objects (not linked structs) are expanded as a.b / a[].b. */
function rows(s: Schema, prefix = ''): string[] {
  const required = new Set<string>(s.required ?? []);
  const out: string[] = [];
  for (const [name, f] of Object.entries<Schema>(s.properties ?? {})) {
    const full = prefix + name;
    out.push(`| \`${full}\` | ${cell(typeText(f))} | ${required.has(name) ? 'yes' : 'no'} | ${cell(f.description ?? '')} |`);
    const linked = typeof f.$id === 'string' && LINKED.has(f.$id);
    if (!linked && f.type === 'object' && f.properties) out.push(...rows(f, `${full}.`));
    const it = f.items as Schema | undefined;
    if (!linked && f.type === 'array' && it?.type === 'object' && it.properties && !(typeof it.$id === 'string' && LINKED.has(it.$id)))
      out.push(...rows(it, `${full}[].`));
  }
  return out;
}

function table(s: Schema, head: string): string[] {
  const r = rows(s);
  if (!r.length) return ['(none: send `{}`)', ''];
  return [`| ${head} | type | required | description |`, '|---|---|---|---|', ...r, ''];
}

const errorText = (e: ErrorCodeName) => `\`${ErrorCode[e]}\` [${e}](#error-codes)`;

function method(name: string, m: MethodSpec): string[] {
  const out = [`### \`${name}\``, '', m.summary, ''];
  if (m.progress)
    out.push(
      'Starts a job: progress arrives as [`$/progress`](#progress) with `token` = the returned `jobId`, and [`$/event`](#event) `job.finished` at the end.',
      '',
    );
  out.push('**Params**', '', ...table(plain(m.params), 'param'));
  const result = plain(m.result);
  out.push('**Result**', '');
  if (result.description && result.properties) out.push(result.description, '');
  if (result.properties && Object.keys(result.properties).length) out.push(...table(result, 'field'));
  else out.push(`${typeText(result, true)}${result.description ? `: ${result.description}` : ''}`, '');
  out.push(`**Errors**: ${(['InvalidParams', ...m.errors] as ErrorCodeName[]).map(errorText).join(', ')}.`, '');
  return out;
}

function notification(name: string, n: { direction: string; summary: string; params: TSchema }): string[] {
  const s = plain(n.params);
  const out = [`### \`${name}\``, '', `${n.direction === 'server->client' ? 'Sent by the server' : 'Sent by the client'}. ${n.summary}`, ''];
  const variants: Schema[] = Array.isArray(s.anyOf) ? s.anyOf : [s];
  for (const v of variants) {
    if (variants.length > 1) out.push(`\`type\` = ${typeText(v.properties.type)}:`, '');
    out.push(...table(v, 'field'));
  }
  return out;
}

export function buildProtocolDoc(): string {
  const out = [
    '<!-- GENERATED by scripts/protocol-doc.ts from protocol/src (npm run codegen); do not edit. -->',
    '# sparsecell protocol reference',
    '',
    "JSON-RPC 2.0 over WebSocket text frames (default `ws://127.0.0.1:7420`). Every request's `params` is one JSON",
    'object whose fields are the named params below; unknown fields are refused with −32602. The same description, as',
    'an OpenRPC document (params by name, one descriptor per field), is `protocol/openrpc.json` and is served by',
    '`rpc.discover`. Example frames for every method are in `protocol/examples/`.',
    '',
    '## Methods',
    '',
    ...Object.keys(METHODS).map((n) => `- [\`${n}\`](#${anchor(n)}): ${(METHODS as Record<string, MethodSpec>)[n].summary}`),
    '',
  ];
  for (const [name, m] of Object.entries(METHODS as Record<string, MethodSpec>)) out.push(...method(name, m));
  out.push('## Notifications', '', 'Messages without an `id`; they are never answered.', '');
  for (const [name, n] of Object.entries(NOTIFICATIONS)) out.push(...notification(name, n));
  out.push('## Structs', '');
  for (const s of STRUCTS.map(plain).filter((x) => LINKED.has(x.$id))) {
    out.push(`### ${s.$id}`, '');
    if (s.description) out.push(s.description, '');
    out.push(...table(s, 'field'));
  }
  out.push(
    '## Error codes',
    '',
    'Every error is `{code, message, data?}`; `message` says what went wrong in this call. Invalid params carry',
    '`data: [{path, message}]` naming each bad field (JSON-pointer paths such as `/labels/shape`).',
    '',
  );
  out.push('| code | name | meaning |', '|---|---|---|');
  for (const [k, code] of Object.entries(ErrorCode)) out.push(`| ${code} | ${k} | ${cell(ERROR_DESCRIPTIONS[k as ErrorCodeName])} |`);
  return out.join('\n') + '\n';
}
