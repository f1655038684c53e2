/** Server configuration: defaults here; only main.ts reads argv/env and calls resolveConfig. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
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
  /** Max requests in one JSON-RPC batch (a longer batch is refused as a whole). */
  maxBatch: number;
  /** Max images in one session. */
  maxImagesPerSession: number;
  /** Default cap on the objects one model.predict returns (the request's maxObjects may lower or raise it). */
  maxObjects: number;
  /** Seconds between model checkpoints while training (what a crash may cost). */
  checkpointS: number;
  /** Deadline of one TIFF decode (image.add {tiff}), in seconds. */
  decodeTimeoutS: number;
  /** Browser origins (exact "scheme://host[:port]") allowed to connect; requests without Origin are always allowed. */
  allowOrigins: string[];
  heartbeatS: number;
  /** tfjs backend preference for compute workers. */
  backend: BackendPreference;
  /** Number of compute worker threads (each with its own tensor backend). */
  computeWorkers: number;
  /**
   * Nice value of the compute worker threads and the TensorFlow pools they create (Linux; 0 = as the daemon).
   * `sparsecell serve` uses 10 (main.ts): the RPC event loop then wins the CPU from training (server.info p99
   * 6.4 ms instead of 18 ms with 4 live sessions). Embedded daemons (tests, benches) default to 0: against
   * other programs' load, nice 10 also slows training (a time-based live-mode test missed its bar).
   */
  computeNice: number;
  /** TensorFlow thread pools as main.ts put them into the environment (reported in server.info). */
  tfThreads?: TensorFlowThreads;
  logLevel: string;
  /** Folder of starter models (cards + archives); default: models/ of the package. */
  modelsDir?: string;
  /** Redis URL: run as a cluster front daemon whose compute workers (`sparsecell worker`) take jobs from BullMQ. */
  redis?: string;
}

export const DEFAULTS: ServerConfig = {
  host: '127.0.0.1',
  port: 7420,
  home: join(homedir(), '.sparsecell'),
  maxMessageBytes: 256 * 1024 * 1024,
  maxArrayElements: 64 * 1024 * 1024,
  maxSessions: 256,
  maxBatch: 100,
  maxImagesPerSession: 1000,
  maxObjects: 10000,
  checkpointS: 30,
  decodeTimeoutS: 60,
  allowOrigins: [],
  heartbeatS: 15,
  backend: 'auto',
  computeWorkers: 1,
  computeNice: 0,
  logLevel: 'info',
};

const BACKENDS: BackendPreference[] = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** An IP address (not a name) in 127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address). */
export function isLoopbackAddress(addr: string): boolean {
  const a = addr.toLowerCase().replace(/^\[|\]$/g, '');
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) !== 6) return false;
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) return a.slice(7).startsWith('127.');
  const canonical = new URL(`http://[${a}]/`).hostname; // compressed form, e.g. [::1] or [::ffff:7f00:1]
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

/**
 * True when every address `host` stands for is loopback. A name is resolved (a name that looks like an address,
 * such as 127.evil.example, is not trusted); one that does not resolve is not loopback.
 */
export async function bindsLoopback(host: string): Promise<boolean> {
  if (isIP(host.replace(/^\[|\]$/g, ''))) return isLoopbackAddress(host);
  try {
    const addrs = await lookup(host, { all: true });
    return addrs.length > 0 && addrs.every((a) => isLoopbackAddress(a.address));
  } catch {
    return false;
  }
}

const tokenNeeded = (host: string) => `refusing to bind ${host} without a token: pass --token or SPARSECELL_TOKEN (any non-loopback bind needs one)`;

/** The bind check on resolved addresses (resolveConfig can only check address literals). */
export async function assertBindAllowed(c: Pick<ServerConfig, 'host' | 'token'>): Promise<void> {
  if (!c.token && !(await bindsLoopback(c.host))) throw new Error(tokenNeeded(c.host));
}

/** Merge and check; throws an Error with a user-facing message on a bad combination. */
export function resolveConfig(partial: Partial<ServerConfig>): ServerConfig {
  const c: ServerConfig = { ...DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) };
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) throw new Error(`port must be an integer in [0, 65535], got ${c.port}`);
  if (isIP(c.host) && !isLoopbackAddress(c.host) && !c.token) throw new Error(tokenNeeded(c.host));
  if (c.token !== undefined && c.token.length < 8) throw new Error('token must be at least 8 characters');
  if (!Number.isInteger(c.computeNice) || c.computeNice < 0 || c.computeNice > 19)
    throw new Error(`compute-nice must be an integer in [0, 19], got ${c.computeNice}`);
  if (!BACKENDS.includes(c.backend)) throw new Error(`backend must be one of ${BACKENDS.join(', ')}, got "${c.backend}"`);
  for (const o of c.allowOrigins) {
    if (o !== 'null' && !/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(o))
      throw new Error(`allowed origin "${o}" must be scheme://host[:port] (no path), e.g. http://localhost:8080`);
  }
  for (const k of ['maxBatch', 'maxImagesPerSession', 'maxObjects'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (!(c.checkpointS > 0)) throw new Error(`checkpointS must be positive, got ${c.checkpointS}`);
  if (!(c.decodeTimeoutS > 0)) throw new Error(`decodeTimeoutS must be positive, got ${c.decodeTimeoutS}`);
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
