/** Runtime validation of params and results against the METHODS table (compiled once, cached). */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import type { ParamIssue } from './errors.js';
import { METHODS, type MethodName } from './methods.js';

const cache = new Map<TSchema, TypeCheck<TSchema>>();

function compiled(schema: TSchema): TypeCheck<TSchema> {
  let c = cache.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    cache.set(schema, c);
  }
  return c;
}

/** Validate a value; returns [] when valid, else one issue per bad field (JSON-pointer-like paths, "" = root). */
export function validate(schema: TSchema, value: unknown, maxIssues = 20): ParamIssue[] {
  const c = compiled(schema);
  if (c.Check(value)) return [];
  const issues: ParamIssue[] = [];
  const seen = new Set<string>();
  for (const e of c.Errors(value)) {
    const key = `${e.path}|${e.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ path: e.path || '/', message: e.message });
    if (issues.length >= maxIssues) break;
  }
  return issues.length ? issues : [{ path: '/', message: 'invalid value' }];
}

export function validateParams(method: MethodName, params: unknown): ParamIssue[] {
  return validate(METHODS[method].params, params);
}

export function validateResult(method: MethodName, result: unknown): ParamIssue[] {
  return validate(METHODS[method].result, result);
}
