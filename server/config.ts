/** Server configuration: defaults here; only main.ts reads argv/env and calls resolveConfig. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { BackendPreference, TensorFlowThreads } from './tensor/backend.js';

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
  /**
   * Nice value of the compute worker threads and the TensorFlow pools they create (Linux; 0 = as the daemon).
   * The default 10 lets the RPC event loop win the CPU from training on a loaded machine.
   */
  computeNice: number;
  /** TensorFlow thread pools as main.ts put them into the environment (reported in server.info). */
  tfThreads?: TensorFlowThreads;
  logLevel: string;
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
  computeNice: 10,
  logLevel: 'info',
};

const BACKENDS: BackendPreference[] = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

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
  if (!Number.isInteger(c.computeNice) || c.computeNice < 0 || c.computeNice > 19) throw new Error(`compute-nice must be an integer in [0, 19], got ${c.computeNice}`);
  if (!BACKENDS.includes(c.backend)) throw new Error(`backend must be one of ${BACKENDS.join(', ')}, got "${c.backend}"`);
  return c;
}

/**
 * TensorFlow's thread pools from `--tf-threads INTRA[,INTER]` (or SPARSECELL_TF_THREADS); 0 lets TensorFlow
 * decide (one thread per core for each pool). Without a setting the daemon leaves a core to the event loop:
 * intra-op = cores − 1 (at least 1), inter-op = 1 (tfjs runs one op at a time, so more inter-op threads only
 * compete). Throws a user-facing message on a malformed setting.
 */
export function resolveTfThreads(spec: string | undefined, cores: number): TensorFlowThreads {
  if (spec === undefined || spec === '') return { intra: Math.max(1, cores - 1), inter: 1 };
  const m = /^\s*(\d{1,4})\s*(?:,\s*(\d{1,4})\s*)?$/.exec(spec);
  if (!m) throw new Error(`tf-threads must be INTRA or INTRA,INTER (non-negative integers, 0 = TensorFlow decides), got "${spec}"`);
  return { intra: Number(m[1]), inter: m[2] === undefined ? 1 : Number(m[2]) };
}
