/** A raw JSON-RPC connection for protocol tests: text frames in, every frame kept, no client library. */
import WebSocket from 'ws';

type Msg = Record<string, unknown>;

/** One request as it went over the wire and the answer frame that came back. */
export interface Exchange {
  request: { jsonrpc: '2.0'; id: number; method: string; params: unknown };
  response: { jsonrpc: '2.0'; id: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } };
}

export class RawConnection {
  /** Answer frames (responses and batches), in arrival order. */
  readonly frames: unknown[] = [];
  /** Server notifications ($/progress, $/event, $/heartbeat), in arrival order. */
  readonly notifications: { method: string; params: unknown }[] = [];
  /** Every call() made on this connection, with its answer. */
  readonly exchanges: Exchange[] = [];
  private waiters: (() => void)[] = [];
  private nextId = 1;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const v = JSON.parse(data.toString()) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v) && 'method' in v) this.notifications.push(v as { method: string; params: unknown });
      else this.frames.push(v);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(url: string): Promise<RawConnection> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawConnection(ws);
  }
  /** Wait (at most timeoutMs) until pred holds; pred is re-checked whenever a frame arrives. */
  async until(pred: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  /** Send one request frame and resolve with its answer frame (result or error, never thrown). */
  async call(method: string, params: unknown, timeoutMs = 30000): Promise<Exchange['response']> {
    const request = { jsonrpc: '2.0' as const, id: this.nextId++, method, params };
    const isAnswer = (f: unknown) => !!f && typeof f === 'object' && (f as Msg).id === request.id;
    this.ws.send(JSON.stringify(request));
    await this.until(() => this.frames.some(isAnswer), timeoutMs, `the answer to ${method}`);
    const response = this.frames.splice(this.frames.findIndex(isAnswer), 1)[0] as Exchange['response'];
    this.exchanges.push({ request, response });
    return response;
  }
  /** Send one text frame and return every answer frame that arrives before the answer to a sentinel request. */
  async exchange(text: string): Promise<unknown[]> {
    const sentinel = `sentinel-${Math.random().toString(36).slice(2)}`;
    const start = this.frames.length;
    this.ws.send(text);
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id: sentinel, method: 'server.info', params: {} }));
    const isSentinel = (f: unknown) => !!f && typeof f === 'object' && (f as Msg).id === sentinel;
    await this.until(() => this.frames.slice(start).some(isSentinel), 10000, `the answer to a sentinel after ${text}`);
    // A late answer to the frame under test would be a bug too: give it a moment to show up.
    await new Promise((r) => setTimeout(r, 50));
    const out = this.frames.slice(start).filter((f) => !isSentinel(f));
    this.frames.length = start;
    return out;
  }
  close(): void {
    this.ws.close();
  }
}
