/**
 * Argument helpers shared by the train / predict / evaluate subcommands. The argv itself comes from
 * server/main.ts (the only module that reads process.argv); these only parse the list they are given.
 * Usage mistakes throw UsageError, which `runCli` turns into a clear message on stderr and exit code 2;
 * any other error is reported as `sparsecell <cmd>: message` with exit code 1.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fileExists } from '../storage/dataset.js';
import type { BackendPreference } from '../tensor/backend.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type CliFlags = Record<string, string | boolean | undefined>;

/** Strict parse: unknown options, missing values and stray positionals are usage errors. */
export function parseFlags(args: string[], options: NonNullable<ParseArgsConfig['options']>): CliFlags {
  try {
    const { values, positionals } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return values as CliFlags;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // node:util messages look like "Unknown option '--foo'. To specify a positional argument ..."
    throw new UsageError(String((e as Error).message).split('. ')[0]);
  }
}

export function requireString(f: CliFlags, name: string): string {
  const v = f[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

export function optionalString(f: CliFlags, name: string): string | undefined {
  const v = f[name];
  return typeof v === 'string' ? v : undefined;
}

/** A number option within [min, max] (integer when `int`), or undefined when absent. */
export function optionalNumber(
  f: CliFlags,
  name: string,
  opts: { int?: boolean; min?: number; max?: number; minOpen?: boolean; maxOpen?: boolean } = {},
): number | undefined {
  const s = optionalString(f, name);
  if (s === undefined) return undefined;
  const v = Number(s);
  const { int = false, min = -Infinity, max = Infinity, minOpen = false, maxOpen = false } = opts;
  const ok = s.trim() !== '' && Number.isFinite(v) && (!int || Number.isInteger(v)) && (minOpen ? v > min : v >= min) && (maxOpen ? v < max : v <= max);
  if (!ok) {
    const range =
      Number.isFinite(min) || Number.isFinite(max) ? ` in ${minOpen ? '(' : '['}${min}, ${max === Infinity ? 'inf' : max}${maxOpen ? ')' : ']'}` : '';
    throw new UsageError(`--${name} must be ${int ? 'an integer' : 'a number'}${range} (got "${s}")`);
  }
  return v;
}

export function choice<T extends string>(f: CliFlags, name: string, allowed: readonly T[], fallback: T): T {
  const s = optionalString(f, name);
  if (s === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(s)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')} (got "${s}")`);
  return s as T;
}

export function requireDir(f: CliFlags, name: string): string {
  const d = requireString(f, name);
  if (!fileExists(d)) throw new UsageError(`--${name}: folder not found: ${d}`);
  return d;
}

const BACKENDS: readonly BackendPreference[] = ['auto', 'wasm', 'tfjs-node-gpu', 'tfjs-node', 'cpu'];

/** --backend flag, else the SPARSECELL_BACKEND value main.ts passed, else 'auto'. */
export function backendChoice(f: CliFlags, envBackend: string | undefined): BackendPreference {
  const s = optionalString(f, 'backend') ?? (envBackend || undefined) ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(s)) throw new UsageError(`backend must be one of ${BACKENDS.join(', ')} (got "${s}")`);
  return s as BackendPreference;
}

/** Run a subcommand body: usage errors -> message + usage on stderr, exit 2; other errors -> exit 1. */
export async function runCli(cmd: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sparsecell ${cmd}: ${e.message}\n\n${usage}`);
      return 2;
    }
    process.stderr.write(`sparsecell ${cmd}: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}

/** Elapsed-time helper for summaries. */
export function seconds(t0: number): number {
  return Math.round((Date.now() - t0) / 100) / 10;
}
