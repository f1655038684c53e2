/** Model service factory (interim: the worker-thread engine lands next). */
import { EventEmitter } from 'node:events';
import { RpcError } from '../errors.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { ModelService } from '../sessions/model-service.js';

export function createModelService(_sessions: SessionManager, _config: ServerConfig, _log: Logger): ModelService {
  const ee = new EventEmitter();
  const no = async (): Promise<never> => {
    throw new RpcError('NotImplemented', 'model methods are not available in this build yet');
  };
  return {
    backendInfo: () => ({ name: 'none' }),
    train: no, configure: no, predict: no, cancel: no, exportModel: no, importModel: no,
    setView: () => undefined,
    closeSession: async () => undefined,
    shutdown: async () => undefined,
    on: (e, l) => ee.on(e, l as never),
  };
}
