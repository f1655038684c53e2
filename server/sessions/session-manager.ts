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
    const meta = this.store.readSessionMeta<SessionMeta>(sessionId);
    const loaded = new Session(meta, this.store);
    loaded.load();
    this.track(loaded);
    return loaded;
  }

  list(): Session[] {
    return this.store.listSessionIds().map((id) => this.get(id));
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
