/**
 * A small typed client for the sparsecell daemon (JSON-RPC 2.0 over WebSocket), typed by protocol/src.
 * Used by the e2e tests and the benchmarks, and by anyone scripting sparsecell from Node.
 *
 *   const c = await SparsecellClient.connect('ws://127.0.0.1:7420', { token });
 *   const { sessionId } = await c.call('session.create', { name: 'demo' });
 *   c.onProgress((p) => ...); c.onEvent((e) => ...);
 */
import WebSocket from 'ws';
import { JSONRPCClient, type JSONRPCResponse } from 'json-rpc-2.0';
import type { MethodName, ParamsOf, ResultOf } from '../../../protocol/src/methods.js';
import type { EventParams, ProgressParams } from '../../../protocol/src/progress.js';

export class RpcException extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcException';
  }
}

export interface ConnectOptions {
  token?: string;
  /** Put the token in the query string instead of the Authorization header. */
  tokenInQuery?: boolean;
  maxPayload?: number;
}

type Listener<T> = (v: T) => void;

/** How many finished jobs' ends a client remembers. */
const ENDS_KEPT = 256;

export class SparsecellClient {
  private readonly rpc: JSONRPCClient;
  private nextId = 1;
  private readonly progressListeners = new Set<Listener<ProgressParams>>();
  private readonly eventListeners = new Set<Listener<EventParams>>();
  private readonly closeListeners = new Set<Listener<{ code: number; reason: string }>>();
  /** The last ENDS_KEPT $/progress ends by token (oldest first), for waitForProgressEnd after the fact. */
  private readonly ends = new Map<string | number, ProgressParams>();
  lastHeartbeat?: string;

  private constructor(readonly ws: WebSocket) {
    this.rpc = new JSONRPCClient(
      async (req) => {
        if (ws.readyState !== WebSocket.OPEN) throw new Error('connection is closed');
        ws.send(JSON.stringify(req));
      },
      () => this.nextId++,
    );
    ws.on('message', (data) => {
      let msg: unknown;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      for (const m of Array.isArray(msg) ? msg : [msg]) this.dispatch(m);
    });
    ws.on('close', (code, reason) => {
      this.rpc.rejectAllPendingRequests(`connection closed (${code} ${reason.toString()})`);
      for (const l of this.closeListeners) l({ code, reason: reason.toString() });
    });
  }

  static connect(url: string, opts: ConnectOptions = {}): Promise<SparsecellClient> {
    const u = new URL(url);
    if (opts.token && opts.tokenInQuery) u.searchParams.set('token', opts.token);
    const headers: Record<string, string> = opts.token && !opts.tokenInQuery ? { authorization: `Bearer ${opts.token}` } : {};
    const ws = new WebSocket(u, { headers, maxPayload: opts.maxPayload ?? 1024 * 1024 * 1024, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new SparsecellClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`connection refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  private dispatch(m: any): void {
    if (m && typeof m === 'object' && 'method' in m && !('id' in m && m.id !== undefined && m.id !== null && 'result' in m)) {
      if (m.method === '$/progress') {
        const p = m.params as ProgressParams;
        if (p?.kind === 'end') {
          this.ends.delete(p.token);
          this.ends.set(p.token, p);
          if (this.ends.size > ENDS_KEPT) this.ends.delete(this.ends.keys().next().value as string | number);
        }
        for (const l of this.progressListeners) l(m.params);
      } else if (m.method === '$/event') for (const l of this.eventListeners) l(m.params);
      else if (m.method === '$/heartbeat') this.lastHeartbeat = m.params?.serverTime;
      return;
    }
    this.rpc.receive(m as JSONRPCResponse);
  }

  /** Call a method; rejects with RpcException(code, message, data) on a JSON-RPC error. */
  async call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const res = await this.rpc.requestAdvanced({ jsonrpc: '2.0', id: this.nextId++, method, params });
    if (res.error) throw new RpcException(res.error.code, res.error.message, res.error.data);
    return res.result as ResultOf<M>;
  }

  /** Send a raw text frame (tests of malformed input). */
  sendRaw(text: string): void {
    this.ws.send(text);
  }

  /** Call with an explicit id, so it can be cancelled with cancelRequest(id). */
  async callWithId<M extends MethodName>(id: number | string, method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const res = await this.rpc.requestAdvanced({ jsonrpc: '2.0', id, method, params });
    if (res.error) throw new RpcException(res.error.code, res.error.message, res.error.data);
    return res.result as ResultOf<M>;
  }

  cancelRequest(id: number | string): void {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method: '$/cancelRequest', params: { id } }));
  }

  onProgress(l: Listener<ProgressParams>): () => void {
    this.progressListeners.add(l);
    return () => this.progressListeners.delete(l);
  }

  onEvent(l: Listener<EventParams>): () => void {
    this.eventListeners.add(l);
    return () => this.eventListeners.delete(l);
  }

  onClose(l: Listener<{ code: number; reason: string }>): () => void {
    this.closeListeners.add(l);
    return () => this.closeListeners.delete(l);
  }

  /** Resolve with the first event matching pred (rejects after timeoutMs). */
  waitForEvent(pred: (e: EventParams) => boolean, timeoutMs = 60000): Promise<EventParams> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new Error(`no matching $/event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (pred(e)) {
          clearTimeout(t);
          off();
          resolve(e);
        }
      });
    });
  }

  /**
   * Resolve with the $/progress end notification of a token (rejects after timeoutMs). An end that arrived before
   * the call counts too (the client keeps the last ENDS_KEPT ends): a short job may end before its caller waits.
   */
  waitForProgressEnd(token: string | number, timeoutMs = 120000): Promise<ProgressParams> {
    const seen = this.ends.get(token);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new Error(`no $/progress end for ${token} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onProgress((p) => {
        if (p.token === token && p.kind === 'end') {
          clearTimeout(t);
          off();
          resolve(p);
        }
      });
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
    });
  }
}
