/**
 * Checks wire messages against an OpenRPC document the way an outside client would: params with the official
 * OpenRPC tooling (@open-rpc/schema-utils-js: dereferenceDocument + MethodCallValidator), results and
 * notifications with ajv against the schemas the document declares.
 */
import { dereferenceDocument, MethodCallValidator } from '@open-rpc/schema-utils-js';
import { Ajv, type ValidateFunction } from 'ajv';

type OpenrpcDocument = Parameters<typeof dereferenceDocument>[0];

interface Descriptor {
  name: string;
  required?: boolean;
  schema?: unknown;
}
interface MethodDoc {
  name: string;
  paramStructure?: string;
  params: Descriptor[];
  result: Descriptor;
  errors?: { code: number; message: string }[];
}

export interface OpenRpcChecker {
  /** The document after the official dereferencing (every $ref resolved). */
  dereferenced: OpenrpcDocument;
  /** Problems with a call's params: the official validator's, plus names the method does not declare. */
  params(method: string, params: unknown): string[];
  /** Problems with a method's result against its declared result schema. */
  result(method: string, result: unknown): string[];
  /** Problems with a notification's params against components.x-notifications. */
  notification(method: string, params: unknown): string[];
  /** The error codes a method declares. */
  errorCodes(method: string): number[];
}

const ajvErrors = (v: ValidateFunction) => (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);

export async function openRpcChecker(document: unknown): Promise<OpenRpcChecker> {
  const raw = JSON.parse(JSON.stringify(document)) as { methods: MethodDoc[] };
  const dereferenced = await dereferenceDocument(JSON.parse(JSON.stringify(document)) as OpenrpcDocument);
  const calls = new MethodCallValidator(dereferenced);
  const methods = new Map(raw.methods.map((m) => [m.name, m]));
  // The raw document as one schema resource, so that its #/components/schemas/… references resolve.
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema(raw, 'openrpc');
  const compiled = new Map<string, ValidateFunction>();
  const at = (pointer: string) => {
    let v = compiled.get(pointer);
    if (!v) compiled.set(pointer, (v = ajv.compile({ $ref: `openrpc#${pointer}` })));
    return v;
  };
  const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
  return {
    dereferenced,
    params(method, params) {
      const m = methods.get(method);
      if (!m) return [`method ${method} is not in the document`];
      if (params === null || typeof params !== 'object' || Array.isArray(params)) return ['params must be an object (paramStructure by-name)'];
      const declared = new Set(m.params.map((p) => p.name));
      const unknown = Object.keys(params)
        .filter((k) => !declared.has(k))
        .map((k) => `${k}: not a declared param of ${method}`);
      const out = calls.validate(method, params as Record<string, unknown>);
      const official = Array.isArray(out) ? out.map((e) => e.message) : [out.message];
      return [...official, ...unknown];
    },
    result(method, result) {
      const i = raw.methods.findIndex((m) => m.name === method);
      if (i < 0) return [`method ${method} is not in the document`];
      const v = at(`/methods/${i}/result/schema`);
      return v(result) ? [] : ajvErrors(v);
    },
    notification(method, params) {
      const v = at(`/components/x-notifications/${escapePointer(method)}/params`);
      return v(params) ? [] : ajvErrors(v);
    },
    errorCodes: (method) => (methods.get(method)?.errors ?? []).map((e) => e.code),
  };
}
