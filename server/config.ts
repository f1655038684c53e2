/** Server configuration: defaults here; only main.ts reads argv/env and calls resolveConfig. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { BackendPreference } from './tensor/backend.js';

export interface ServerConfig {
  host: string;
  port: number;
  home: string;
  token?: string;
  /** Max WebSocket message size in bytes (enforced by ws before parsing). */
  maxMessageBytes: number;
  /** Max elements of any one array in a request (checked before base64 decoding). */
  maxArrayElements: number;
  maxSessions: number;
  heartbeatS: number;
  /** tfjs backend preference for compute workers. */
  backend: BackendPreference;
  /** Number of compute worker threads (each with its own tensor backend). */
  computeWorkers: number;
  logLevel: string;
  /** Folder of starter models (cards + archives); default: models/ of the package. */
  modelsDir?: string;
}

export const DEFAULTS: ServerConfig = {
  host: '127.0.0.1',
  port: 7420,
  home: join(homedir(), '.sparsecell'),
  maxMessageBytes: 256 * 1024 * 1024,
  maxArrayElements: 64 * 1024 * 1024,
  maxSessions: 256,
  heartbeatS: 15,
  backend: 'auto',
  computeWorkers: 1,
  logLevel: 'info',
};

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Merge and check; throws an Error with a user-facing message on a bad combination. */
export function resolveConfig(partial: Partial<ServerConfig>): ServerConfig {
  const c: ServerConfig = { ...DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) throw new Error(`port must be an integer in [0, 65535], got ${c.port}`);
  if (!isLoopback(c.host) && !c.token) {
    throw new Error(`refusing to bind ${c.host} without a token: pass --token or SPARSECELL_TOKEN (any non-loopback bind needs one)`);
  }
  if (c.token !== undefined && c.token.length < 8) throw new Error('token must be at least 8 characters');
  return c;
}
