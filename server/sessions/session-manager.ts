/**
 * All sessions of the daemon, loaded lazily from the store. Sessions are global (not per connection): any
 * connection can reopen one by id. Emits 'event' ({sessionId, params}) for $/event fan-out.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { RpcError } from '../errors.js';
import type { FamilyName } from '../../protocol/src/types.js';
import type { Store } from '../storage/store.js';
import type { StarterRegistry } from '../storage/starters.js';
import { Session, type SessionMeta } from './session.js';

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The fields a session.json must have before a Session is built on it. */
function checkMeta(meta: SessionMeta, sessionId: string): void {
  const bad = (what: string) => {
    throw new Error(`session.json: ${what}`);
  };
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) bad('not a JSON object');
  if (meta.sessionId !== sessionId) bad(`sessionId is ${JSON.stringify(meta.sessionId)}, expected "${sessionId}"`);
  if (typeof meta.name !== 'string') bad('name is missing');
  if (!['stardist', 'cellpose', 'elephant'].includes(meta.family)) bad(`unknown family ${JSON.stringify(meta.family)}`);
  if (!meta.config || typeof meta.config !== 'object') bad('config is missing');
  if (!Array.isArray(meta.images)) bad('images is not a list');
}

export class SessionManager extends EventEmitter {
  private readonly loaded = new Map<string, Session>();

  constructor(
    readonly store: Store,
    private readonly maxSessions: number,
    /** Built-in starter models (session.create {starter}). */
    readonly starters: StarterRegistry,
  ) {
    super();
  }

  async create(opts: { name?: string; family?: FamilyName; config?: Record<string, unknown>; autoBackground?: boolean; starter?: string }): Promise<Session> {
    if (this.store.listSessionIds().length >= this.maxSessions) {
      throw new RpcError('ResourceLimit', `the store already holds ${this.maxSessions} sessions (maxSessions); delete some with session.close {delete: true}`);
    }
    const sessionId = `s${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
    const meta: SessionMeta = {
      sessionId,
      name: opts.name ?? sessionId,
      family: opts.family ?? 'stardist',
      config: opts.config ?? {},
      createdAt: new Date().toISOString(),
      ...(opts.autoBackground !== undefined ? { autoBackground: opts.autoBackground } : {}),
      ...(opts.starter !== undefined ? { starter: opts.starter } : {}),
      images: [],
      nextImage: 1,
    };
    await this.store.writeSessionMeta(sessionId, meta);
    const s = new Session(meta, this.store);
    this.track(s);
    return s;
  }

  private track(s: Session): void {
    this.loaded.set(s.id, s);
    s.on('labels', (e: { imageId: string; generation: number }) =>
      this.emit('event', { sessionId: s.id, params: { type: 'labels.updated', sessionId: s.id, imageId: e.imageId, generation: e.generation } }),
    );
    s.on('error-log', (e: unknown) => this.emit('error-log', e));
    this.emit('loaded', s);
  }

  /** The session, loading it from disk if needed; SessionNotFound otherwise. */
  get(sessionId: string): Session {
    const s = this.loaded.get(sessionId);
    if (s) return s;
    if (!ID_RE.test(sessionId) || !this.store.hasSession(sessionId)) {
      throw new RpcError('SessionNotFound', `no session "${sessionId}"`, [{ path: '/sessionId', message: 'unknown session' }]);
    }
    let loaded: Session;
    try {
      const meta = this.store.readSessionMeta<SessionMeta>(sessionId);
      checkMeta(meta, sessionId);
      loaded = new Session(meta, this.store);
      loaded.load();
    } catch (e) {
      const message = `session ${sessionId} is damaged on disk and cannot be opened: ${(e as Error).message}`;
      this.emit('warning', { sessionId, message });
      throw new RpcError('StorageCorrupt', message, [{ path: '/sessionId', message: 'damaged session' }]);
    }
    for (const w of loaded.warnings) this.emit('warning', { sessionId, ...w });
    this.track(loaded);
    return loaded;
  }

  /** Every session of the store; damaged ones are listed apart (with the reason) and do not stop the others. */
  list(): { sessions: Session[]; damaged: Array<{ sessionId: string; error: string }> } {
    const sessions: Session[] = [],
      damaged: Array<{ sessionId: string; error: string }> = [];
    for (const id of this.store.listSessionIds()) {
      try {
        sessions.push(this.get(id));
      } catch (e) {
        if (!(e instanceof RpcError) || e.codeName !== 'StorageCorrupt') throw e;
        damaged.push({ sessionId: id, error: e.message });
      }
    }
    return { sessions, damaged };
  }

  /** A connection reopened the session: announce jobs a crash interrupted (job.finished, state interrupted). */
  reopened(s: Session): void {
    for (const jobId of s.takeInterruptedNotices()) {
      // after the answer to the request that reopened it
      setImmediate(() => this.emit('event', { sessionId: s.id, params: { type: 'job.finished', sessionId: s.id, jobId, state: 'interrupted' } }));
    }
  }

  loadedSessions(): Session[] {
    return [...this.loaded.values()];
  }

  /** Close: flush and unload (it reloads on next use). delete: also remove from disk. */
  async close(sessionId: string, del: boolean): Promise<void> {
    const s = this.get(sessionId);
    s.state = 'closed';
    this.emit('closing', s);
    await s.flush();
    this.loaded.delete(sessionId);
    s.removeAllListeners();
    if (del) await this.store.deleteSession(sessionId);
    this.emit('event', { sessionId, params: { type: 'session.closed', sessionId } });
  }

  async flushAll(): Promise<void> {
    await Promise.all([...this.loaded.values()].map((s) => s.flush()));
  }
}
