/**
 * The JSON-RPC 2.0 request envelope (specification section 4), checked before a message reaches a method:
 * an object with jsonrpc "2.0", a string method, params absent or structured, and an id that is absent
 * (a notification), null, a string or a safe integer. Anything else is an Invalid Request (-32600) answered
 * with id null, as section 5.1 requires when the id cannot be trusted.
 */
import { createJSONRPCErrorResponse, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0';
import { ErrorCode } from '../../protocol/src/errors.js';

/** Why msg is not a JSON-RPC 2.0 request, or null when it is one. */
export function envelopeProblem(msg: unknown): string | null {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return 'a request must be a JSON object';
  const m = msg as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"';
  if (typeof m.method !== 'string') return 'method must be a string';
  if ('id' in m) {
    const id = m.id;
    const ok = id === null || typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id));
    if (!ok) return 'id must be a string, a safe integer or null';
  }
  if ('params' in m && (m.params === null || typeof m.params !== 'object')) return 'params must be an object';
  if ('result' in m || 'error' in m) return 'a request has no result or error member';
  return null;
}

/** The -32600 response for a message that is not a request, or null when msg is a well-formed request. */
export function invalidRequestResponse(msg: unknown): JSONRPCResponse | null {
  const problem = envelopeProblem(msg);
  return problem === null ? null : createJSONRPCErrorResponse(null, ErrorCode.InvalidRequest, `invalid request: ${problem}`);
}

/** A notification is a request without an id member; the server never answers one (section 4.1). */
export function isNotification(request: JSONRPCRequest): boolean {
  return !('id' in request);
}
