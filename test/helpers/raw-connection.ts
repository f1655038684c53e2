/** A raw JSON-RPC connection for protocol tests: text frames in, every answer frame kept, no client library. */
import WebSocket from 'ws';

type Msg = Record<string, unknown>;

/** A raw connection that keeps every frame the server sends, except server notifications ($/…). */
export class RawConnection {
  readonly frames: unknown[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const v = JSON.parse(data.toString()) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v) && 'method' in v) return;
      this.frames.push(v);
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
  /** Send one text frame and return every answer frame that arrives before the answer to a sentinel request. */
  async exchange(text: string): Promise<unknown[]> {
    const sentinel = `sentinel-${Math.random().toString(36).slice(2)}`;
    const start = this.frames.length;
    this.ws.send(text);
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id: sentinel, method: 'server.info', params: {} }));
    const isSentinel = (f: unknown) => !!f && typeof f === 'object' && (f as Msg).id === sentinel;
    const deadline = Date.now() + 10000;
    while (!this.frames.slice(start).some(isSentinel)) {
      if (Date.now() > deadline) throw new Error(`no answer to the sentinel after ${text}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
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

