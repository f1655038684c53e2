/** `sparsecell serve`: run the daemon until SIGTERM/SIGINT, then shut down gracefully. */
import { resolveConfig, type ServerConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startDaemon } from '../app.js';
import { createModelService } from '../training/service.js';

export async function serve(partial: Partial<ServerConfig>): Promise<number> {
  const config = resolveConfig(partial);
  const log = createLogger(config.logLevel);
  const daemon = await startDaemon(config, log, (sessions) => createModelService(sessions, config, log));
  process.stdout.write(`sparsecell listening on ws://${config.host}:${daemon.rpc.port} (store ${config.home})\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'shutting down');
      daemon.close().then(resolve, (e) => {
        log.error({ err: e }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info('bye');
  return 0;
}
