/** Shared bits of the hardening tests: error codes of a call, a raw WebSocket with chosen headers. */
import WebSocket from 'ws';
import { RpcException } from '../../clients/typescript/src/client.js';

/** The JSON-RPC error of a call that must fail (throws when it succeeds). */
export async function rpcError(p: Promise<unknown>): Promise<RpcException> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcException) return e;
    throw e;
  }
  throw new Error('expected an RPC error');
}

/** Open a WebSocket with extra headers; resolves to the HTTP status of a refusal, or 101 when it opened. */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
  });
}

/** Send one raw text frame and wait for the first reply frame. */
export function rawCall(url: string, frame: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    ws.once('open', () => ws.send(frame));
    ws.once('message', (d) => {
      resolve(JSON.parse(d.toString()));
      ws.close();
    });
    ws.once('error', reject);
  });
}
