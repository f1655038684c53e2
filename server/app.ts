/** Composition root: store + sessions + model service + handlers + RPC server. Used by `serve`, tests and benches. */
import { assertBindAllowed, bindsLoopback, type ServerConfig } from './config.js';
import type { Logger } from './log.js';
import { Store } from './storage/store.js';
import { packageVersion } from './storage/package-info.js';
import { StarterRegistry, defaultModelsDir } from './storage/starters.js';
export { packageVersion };
import { SessionManager } from './sessions/session-manager.js';
import type { ModelService } from './sessions/model-service.js';
import { createHandlers } from './handlers/index.js';
import { PatchInflater } from './handlers/patch-inflater.js';
import { startRpcServer, type RpcServer } from './rpc/server.js';

export interface Daemon {
  rpc: RpcServer;
  sessions: SessionManager;
  models: ModelService;
  close(): Promise<void>;
}

export async function startDaemon(config: ServerConfig, log: Logger, makeModels: (sessions: SessionManager) => ModelService): Promise<Daemon> {
  await assertBindAllowed(config);
  const store = new Store(config.home);
  const starters = new StarterRegistry(config.modelsDir ?? defaultModelsDir());
  for (const p of starters.problems) log.warn({ card: p.cardPath }, `starter model skipped: ${p.problem}`);
  const sessions = new SessionManager(store, config.maxSessions, starters);
  const models = makeModels(sessions);
  const inflater = new PatchInflater();
  inflater.warm();
  const handlers = createHandlers({ sessions, models, config, version: packageVersion(), families: ['stardist', 'cellpose', 'elephant'], inflater });
  const rpc = await startRpcServer({
    host: config.host,
    port: config.port,
    token: config.token,
    maxMessageBytes: config.maxMessageBytes,
    heartbeatS: config.heartbeatS,
    log,
    handlers,
    maxBatch: config.maxBatch,
    allowOrigins: config.allowOrigins,
    loopbackBind: await bindsLoopback(config.host),
  });
  sessions.on('event', (e: { sessionId: string; params: never }) => rpc.broadcastEvent(e.sessionId, e.params));
  sessions.on('error-log', (e: unknown) => log.error({ err: e }, 'background storage task failed'));
  sessions.on('warning', (w: { sessionId: string; imageId?: string; message: string }) => log.warn(w, 'damaged data in the store'));
  models.on('progress', (sid, p) => rpc.broadcastProgress(sid, p));
  models.on('event', (sid, p) => rpc.broadcastEvent(sid, p));
  let closed = false;
  return {
    rpc,
    sessions,
    models,
    async close() {
      if (closed) return;
      closed = true;
      await models.shutdown();
      await rpc.close();
      await sessions.flushAll();
      await store.closeJournals();
      await inflater.close();
    },
  };
}
