/**
 * Lower the scheduling priority of the calling thread (Linux: nice is per thread, and threads it creates
 * afterwards inherit it). A compute worker calls this before loading its backend, so libtensorflow's thread
 * pools and the worker itself yield to the RPC event loop on a busy machine. Lives in storage/ because it
 * reads /proc (the only layer that touches files). `nice` is absolute (like `renice`), but never raises the
 * priority: a daemon started under `nice -n 15` keeps its compute threads at 15. Returns the nice value the thread
 * has afterwards, or undefined where it cannot set one.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, platform, setPriority } from 'node:os';

export function niceCurrentThread(nice: number): number | undefined {
  if (platform() !== 'linux' || nice === 0) return undefined;
  try {
    // /proc/thread-self -> <pid>/task/<tid>: setpriority(PRIO_PROCESS, tid) affects only that thread on Linux.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return undefined;
    const target = Math.max(getPriority(tid), nice);
    setPriority(tid, target);
    return target;
  } catch {
    return undefined;
  }
}
