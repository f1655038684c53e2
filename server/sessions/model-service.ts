/**
 * What the sessions layer needs from the model side (training, prediction, export/import). Implemented by
 * server/training/service.ts on worker threads; handlers only see this interface.
 */
import type { ProgressParams, EventParams } from '../../protocol/src/progress.js';
import type { ParamsOf, PredictionResult, ResultOf } from '../../protocol/src/methods.js';
import type { Session } from './session.js';
import type { DeviceInfo } from '../tensor/devices.js';

export interface BackendInfo {
  name: string;
  simd?: boolean;
  threads?: number;
  interOpThreads?: number;
  gpu?: boolean;
  devices?: DeviceInfo[];
  fallback?: string;
}

export interface ModelServiceEvents {
  progress(sessionId: string, params: ProgressParams): void;
  event(sessionId: string, params: EventParams): void;
}

export interface ModelService {
  backendInfo(): BackendInfo;
  /** A cluster front daemon: its compute workers (server.info.workers). */
  clusterWorkers?(): ResultOf<'server.info'>['workers'];
  /** Start the compute workers now (they otherwise start on first model use) and report their backend. */
  startCompute?(): Promise<BackendInfo>;
  train(session: Session, params: ParamsOf<'model.train'>): Promise<{ jobId: string }>;
  configure(session: Session, params: ParamsOf<'model.configure'>): Promise<ResultOf<'model.configure'>>;
  predict(session: Session, params: ParamsOf<'model.predict'>, ctx: { signal: AbortSignal; progress?: (p: ProgressParams) => void }): Promise<PredictionResult>;
  suggest(session: Session, params: ParamsOf<'model.suggest'>, ctx: { signal: AbortSignal }): Promise<ResultOf<'model.suggest'>>;
  cancel(jobId: string): Promise<{ cancelled: boolean; state: string }>;
  exportModel(session: Session, params?: Omit<ParamsOf<'model.export'>, 'sessionId'>): Promise<ResultOf<'model.export'>>;
  importModel(session: Session, archive: Uint8Array, format?: 'sparsecell' | 'bioimageio'): Promise<ResultOf<'model.import'>>;
  setView(session: Session, view: NonNullable<Session['view']>): void;
  /** Stop the session's jobs and release its model (session.close). */
  closeSession(session: Session): Promise<void>;
  shutdown(): Promise<void>;
  on<E extends keyof ModelServiceEvents>(event: E, listener: ModelServiceEvents[E]): unknown;
}
