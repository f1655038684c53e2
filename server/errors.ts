/** The error type every server layer throws; the RPC layer maps it to a JSON-RPC error response. */
import { ErrorCode, type ErrorCodeName, type ParamIssue } from '../protocol/src/errors.js';

export class RpcError extends Error {
  readonly code: number;
  constructor(
    readonly codeName: ErrorCodeName,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.code = ErrorCode[codeName];
  }
}

export function invalidParams(issues: ParamIssue[], message = 'invalid params'): RpcError {
  const first = issues[0];
  return new RpcError('InvalidParams', first ? `${message}: ${first.path} ${first.message}` : message, issues);
}
