/** The one pino root logger; modules take child loggers carrying sessionId / requestId. */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { name: 'sparsecell' }, timestamp: pino.stdTimeFunctions.isoTime }, destination ?? pino.destination(2));
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
