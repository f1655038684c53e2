/** What a handler gets besides its params. Knows nothing of ws: the rpc layer fills it in. */
import type { Logger } from '../log.js';
import type { ProgressParams } from '../../protocol/src/progress.js';

export interface HandlerContext {
  requestId: string | number | null;
  /** Aborted by $/cancelRequest for this request or when the connection closes. */
  signal: AbortSignal;
  log: Logger;
  /** Attach the calling connection to a session's $/event and job $/progress stream. */
  attach(sessionId: string): void;
  /** Send a $/progress notification to the calling connection. */
  progress(params: ProgressParams): void;
  /** True when the peer is on a loopback address. */
  loopback: boolean;
  /** True when the connection presented the server's token (never true on a daemon without a token). */
  authenticated: boolean;
}

export type Handler = (params: any, ctx: HandlerContext) => Promise<unknown> | unknown;
