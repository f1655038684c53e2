/**
 * The only module that knows ws. One JSON-RPC 2.0 endpoint over WebSocket text frames:
 * - token check at upgrade (Authorization: Bearer or ?token=), required off loopback;
 * - browser Origin check at upgrade (only --allow-origin origins; requests without Origin, or with the daemon's own
 *   loopback address as websocket-client sends, pass) and, on a loopback bind, a Host check against DNS rebinding;
 * - at most maxBatch requests per JSON-RPC batch;
 * - max message size enforced by ws (maxPayload) before any parsing: oversized frames close with 1009;
 * - params validated against protocol/ (invalid -> -32602 with data [{path, message}]);
 * - per-request AbortSignal, cancelled by $/cancelRequest {id} or connection close;
 * - $/progress and $/event fan-out to the connections attached to a session;
 * - $/heartbeat notifications plus ws ping/pong to drop dead peers.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { JSONRPCServer, createJSONRPCErrorResponse, createJSONRPCSuccessResponse, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0';
import { ErrorCode } from '../../protocol/src/errors.js';
import { METHODS, type MethodName } from '../../protocol/src/methods.js';
import { validateParams } from '../../protocol/src/validate.js';
import type { EventParams, ProgressParams } from '../../protocol/src/progress.js';
import { RpcError } from '../errors.js';
import { invalidRequestResponse, isNotification } from './envelope.js';
import type { Logger } from '../log.js';
import type { Handler, HandlerContext } from '../handlers/context.js';

export interface RpcServerOptions {
  host: string;
  port: number;
  token?: string;
  maxMessageBytes: number;
  /** Most requests in one batch. */
  maxBatch: number;
  /** Browser origins allowed to connect (exact match). */
  allowOrigins: string[];
  /** The server is bound to loopback addresses only: refuse Host headers that are not loopback (DNS rebinding). */
  loopbackBind: boolean;
  heartbeatS: number;
  log: Logger;
  handlers: Record<MethodName, Handler>;
}

interface Connection {
  id: number;
  ws: WebSocket;
  loopback: boolean;
  authenticated: boolean;
  alive: boolean;
  inflight: Map<string | number, AbortController>;
  sessions: Set<string>;
  log: Logger;
}

export interface RpcServer {
  port: number;
  host: string;
  /** Notify every connection attached to a session. */
  broadcastEvent(sessionId: string, params: EventParams): void;
  broadcastProgress(sessionId: string, params: ProgressParams): void;
  connectionCount(): number;
  close(): Promise<void>;
}

function tokenOk(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization;
  let given: string | undefined;
  if (auth && auth.startsWith('Bearer ')) given = auth.slice(7).trim();
  if (!given) {
    const url = new URL(req.url ?? '/', 'http://x');
    given = url.searchParams.get('token') ?? undefined;
  }
  if (!given) return false;
  const a = Buffer.from(given),
    b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function isLoopbackAddr(addr: string | undefined): boolean {
  return !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));
}

/** Host header names a loopback daemon answers to: localhost (and *.localhost), 127.0.0.0/8 and ::1, any port. */
function isLoopbackHost(host: string): boolean {
  const m = /^(\[[^\]]+\]|[^:]+)(:\d+)?$/.exec(host.trim().toLowerCase());
  if (!m) return false;
  const name = m[1];
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (name.startsWith('[')) return name === '[::1]';
  return /^127(\.\d{1,3}){3}$/.test(name);
}

/**
 * The daemon's own loopback address as an origin (http://127.0.0.1:<port>, http://localhost:<port>): what
 * websocket-client (napari, Python scripts) sends by default. No web page can have it: the daemon serves no pages.
 */
function isOwnOrigin(origin: string, port: number): boolean {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  const p = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return (u.protocol === 'http:' || u.protocol === 'https:') && p === port && isLoopbackHost(u.hostname);
}

/** Why an upgrade is refused (403), or undefined when it may go on. */
function refusal(req: IncomingMessage, opts: RpcServerOptions, port: number): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined && !opts.allowOrigins.some((o) => o.toLowerCase() === origin.toLowerCase()) && !(opts.loopbackBind && isOwnOrigin(origin, port))) {
    return `origin ${origin} is not allowed: a web page may connect only when the daemon is started with --allow-origin ${origin}`;
  }
  const host = req.headers.host;
  if (opts.loopbackBind && host !== undefined && !isLoopbackHost(host)) {
    return `host ${host} is not a loopback name; connect to localhost or 127.0.0.1`;
  }
  return undefined;
}

export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const { log } = opts;
  const rpc = new JSONRPCServer<{ conn: Connection; ctx?: HandlerContext }>();
  const connections = new Set<Connection>();
  const bySession = new Map<string, Set<Connection>>();
  let nextConn = 1;

  const send = (conn: Connection, msg: unknown) => {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(msg));
  };
  const notify = (conn: Connection, method: string, params: unknown) => send(conn, { jsonrpc: '2.0', method, params });

  const attach = (conn: Connection, sessionId: string) => {
    conn.sessions.add(sessionId);
    let set = bySession.get(sessionId);
    if (!set) bySession.set(sessionId, (set = new Set()));
    set.add(conn);
  };

  const toErrorResponse = (id: string | number | null, e: unknown, conn: Connection): JSONRPCResponse => {
    if (e instanceof RpcError) return createJSONRPCErrorResponse(id, e.code, e.message, e.data);
    if (e instanceof Error && e.name === 'AbortError') return createJSONRPCErrorResponse(id, ErrorCode.RequestCancelled, 'request cancelled');
    conn.log.error({ requestId: id, err: e }, 'internal error');
    return createJSONRPCErrorResponse(
      id,
      ErrorCode.InternalError,
      `internal error (logged with request id ${String(id)}): ${(e as Error)?.message ?? String(e)}`,
    );
  };

  for (const name of Object.keys(METHODS) as MethodName[]) {
    const handler = opts.handlers[name];
    rpc.addMethodAdvanced(name, async (request: JSONRPCRequest, sp) => {
      const { conn } = sp;
      const id = request.id ?? null;
      const params = request.params === undefined ? {} : request.params;
      // A notification is never answered, not even when its params are wrong (JSON-RPC 2.0 section 4.1).
      if (params === null || typeof params !== 'object' || Array.isArray(params)) {
        return isNotification(request)
          ? null
          : createJSONRPCErrorResponse(id, ErrorCode.InvalidParams, 'params must be one named object', [{ path: '/', message: 'expected an object' }]);
      }
      const issues = validateParams(name, params);
      if (issues.length) {
        return isNotification(request)
          ? null
          : createJSONRPCErrorResponse(id, ErrorCode.InvalidParams, `invalid params for ${name}: ${issues[0].path} ${issues[0].message}`, issues);
      }
      const ac = new AbortController();
      if (request.id !== undefined && request.id !== null) conn.inflight.set(request.id, ac);
      const reqLog = conn.log.child({
        requestId: id,
        method: name,
        ...('sessionId' in params ? { sessionId: (params as { sessionId: string }).sessionId } : {}),
      });
      const ctx: HandlerContext = {
        requestId: id,
        signal: ac.signal,
        log: reqLog,
        attach: (sid) => attach(conn, sid),
        progress: (p) => notify(conn, '$/progress', p),
        loopback: conn.loopback,
        authenticated: conn.authenticated,
      };
      try {
        const result = await handler(params, ctx);
        return request.id === undefined ? null : createJSONRPCSuccessResponse(id, result);
      } catch (e) {
        return request.id === undefined ? null : toErrorResponse(id, e, conn);
      } finally {
        if (request.id !== undefined && request.id !== null) conn.inflight.delete(request.id);
      }
    });
  }

  const handleOne = async (conn: Connection, msg: unknown): Promise<JSONRPCResponse | null> => {
    const invalid = invalidRequestResponse(msg);
    if (invalid) return invalid;
    if ((msg as { method: string }).method === '$/cancelRequest') {
      const id = ((msg as { params?: { id?: unknown } }).params ?? {}).id;
      if (typeof id === 'string' || typeof id === 'number') conn.inflight.get(id)?.abort();
      // Meant as a notification; sent as a request (with an id) it still gets its answer.
      return isNotification(msg as JSONRPCRequest) ? null : createJSONRPCSuccessResponse((msg as JSONRPCRequest).id ?? null, null);
    }
    try {
      return (await rpc.receive(msg as JSONRPCRequest, { conn })) as JSONRPCResponse | null;
    } catch (e) {
      return toErrorResponse(null, e, conn);
    }
  };

  const onMessage = async (conn: Connection, data: RawData, isBinary: boolean) => {
    if (isBinary) {
      send(conn, createJSONRPCErrorResponse(null, ErrorCode.InvalidRequest, 'binary frames are not supported; send JSON text frames'));
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch (e) {
      send(conn, createJSONRPCErrorResponse(null, ErrorCode.ParseError, `parse error: ${(e as Error).message}`));
      return;
    }
    if (Array.isArray(msg)) {
      if (msg.length === 0) {
        send(conn, createJSONRPCErrorResponse(null, ErrorCode.InvalidRequest, 'empty batch'));
        return;
      }
      if (msg.length > opts.maxBatch) {
        send(
          conn,
          createJSONRPCErrorResponse(
            null,
            ErrorCode.ResourceLimit,
            `batch of ${msg.length} requests; at most ${opts.maxBatch} (server.info.limits.maxBatch): nothing was run`,
            [{ path: '/', message: 'batch too long' }],
          ),
        );
        return;
      }
      const out = (await Promise.all(msg.map((m) => handleOne(conn, m)))).filter((r) => r !== null);
      if (out.length) send(conn, out);
      return;
    }
    const res = await handleOne(conn, msg);
    if (res) send(conn, res);
  };

  const http: HttpServer = createServer((req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('sparsecell speaks JSON-RPC 2.0 over WebSocket; connect with a WebSocket client.\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false });

  http.on('upgrade', (req, socket, head) => {
    const refused = refusal(req, opts, (http.address() as AddressInfo).port);
    if (refused) {
      socket.write(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${refused}\n`);
      socket.destroy();
      log.warn({ remote: req.socket.remoteAddress, origin: req.headers.origin, host: req.headers.host }, 'connection refused: origin or host');
      return;
    }
    if (opts.token && !tokenOk(req, opts.token)) {
      socket.write(
        'HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nmissing or wrong token (Authorization: Bearer <token> or ?token=)\n',
      );
      socket.destroy();
      log.warn({ remote: req.socket.remoteAddress }, 'connection refused: bad token');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const id = nextConn++;
    const conn: Connection = {
      id,
      ws,
      loopback: isLoopbackAddr(req.socket.remoteAddress),
      authenticated: !!opts.token,
      alive: true,
      inflight: new Map(),
      sessions: new Set(),
      log: log.child({ conn: id }),
    };
    connections.add(conn);
    conn.log.info({ remote: req.socket.remoteAddress }, 'connected');
    ws.on('pong', () => (conn.alive = true));
    ws.on('message', (data, isBinary) => {
      onMessage(conn, data, isBinary).catch((e) => conn.log.error({ err: e }, 'message handling failed'));
    });
    ws.on('error', (e) => conn.log.warn({ err: e.message }, 'socket error'));
    ws.on('close', (code, reason) => {
      connections.delete(conn);
      for (const ac of conn.inflight.values()) ac.abort();
      for (const sid of conn.sessions) bySession.get(sid)?.delete(conn);
      conn.log.info({ code, reason: reason.toString() }, 'disconnected');
    });
  });

  const beat = setInterval(() => {
    for (const conn of connections) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
      notify(conn, '$/heartbeat', { serverTime: new Date().toISOString() });
    }
  }, Math.max(0.05, opts.heartbeatS) * 1000);
  beat.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => resolve());
  });
  const addr = http.address() as AddressInfo;
  log.info({ host: opts.host, port: addr.port }, 'listening');

  return {
    port: addr.port,
    host: opts.host,
    broadcastEvent(sessionId, params) {
      for (const c of bySession.get(sessionId) ?? []) notify(c, '$/event', params);
    },
    broadcastProgress(sessionId, params) {
      for (const c of bySession.get(sessionId) ?? []) notify(c, '$/progress', params);
    },
    connectionCount: () => connections.size,
    async close() {
      clearInterval(beat);
      for (const c of connections) {
        for (const ac of c.inflight.values()) ac.abort();
        c.ws.close(1001, 'server shutting down');
      }
      await new Promise<void>((r) => setTimeout(r, 20));
      for (const c of connections) c.ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
