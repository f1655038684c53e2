/**
 * `sparsecell serve` runs its daemon under V8's --single-threaded-gc. V8 normally splits every scavenge and
 * mark-compact across helper threads and waits for them; while training keeps the cores busy, those helpers wait
 * for a core and the event loop waits for them. On the 2-core bench machine with 4 live sessions, the event loop
 * then stalled for more than 8 ms about once a second (server.info p99 7-16 ms) and with every collection on the
 * thread that needs it about 6 times less often (bench/results/live-*.json). The flag only works from the command
 * line (V8 fixes it at start-up; switching the collectors at run time trips V8's own checks), so a `serve` started
 * without it starts the daemon again as a child with it and stays as a small supervisor:
 * - the child shares stdin/stdout/stderr (its "listening" line is the one clients read);
 * - SIGTERM, SIGINT and SIGHUP sent to the supervisor reach the child, which shuts down gracefully;
 * - if the supervisor dies (kill -9), the child sees its IPC channel close and shuts down gracefully too;
 * - the supervisor exits with the child's exit code.
 * `--gc parallel` (or SPARSECELL_GC=parallel), or starting Node with --single-threaded-gc yourself, skips this.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export type GcMode = 'serial' | 'parallel';
export const SERIAL_GC_FLAG = '--single-threaded-gc';
/** Set in the child's environment, so it knows a supervisor is there. */
export const RELAUNCHED_ENV = 'SPARSECELL_RELAUNCHED';

export function parseGcMode(v: string | undefined): GcMode {
  const mode = v ?? 'serial';
  if (mode !== 'serial' && mode !== 'parallel') throw new Error(`--gc must be "serial" or "parallel", got ${JSON.stringify(v)}`);
  return mode;
}

/** Whether `serve` should start its daemon again under --single-threaded-gc. */
export function wantsRelaunch(mode: GcMode, execArgv: readonly string[], relaunched: boolean): boolean {
  return mode === 'serial' && !relaunched && !execArgv.includes(SERIAL_GC_FLAG);
}

/** Run `node <execArgv> --single-threaded-gc <script> <args>` as a supervised child; resolves to its exit code. */
export function relaunch(script: string, args: readonly string[], execArgv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, [...execArgv, SERIAL_GC_FLAG, script, ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...env, [RELAUNCHED_ENV]: '1' },
  });
  const forward = (sig: NodeJS.Signals) => () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  return new Promise((resolve) => {
    const done = (code: number) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      resolve(code);
    };
    child.once('error', (e) => {
      process.stderr.write(`sparsecell: could not start the daemon under ${SERIAL_GC_FLAG} (${e.message})\n`);
      done(1);
    });
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  });
}

/**
 * In a relaunched daemon: when the supervisor's IPC channel closes (the supervisor died), call `stop` once. The
 * channel does not keep the daemon alive.
 */
export function stopWhenSupervisorGoes(stop: () => void): void {
  if (!process.send) return;
  process.once('disconnect', stop);
  process.channel?.unref();
}
