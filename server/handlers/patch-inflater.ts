/**
 * Inflates painted label patches on a worker thread into shared scratch memory, so that the event loop's V8 isolate
 * allocates nothing per `labels.update`.
 *
 * Why: a 512² uint16 patch inflates to 512 KiB. Allocated on the event loop's isolate for every update (zlib's output
 * buffer), that external memory made V8 run a full mark-compact every few dozen updates, and those pauses were the
 * tail of labels.update latency (one client sending patches back to back: p99 ~14 ms with them, ~6 ms without).
 * Here zlib's buffers live and die in the worker's isolate; the event loop reads the values from a SharedArrayBuffer
 * taken from a small free list and given back once the update is applied (`release`).
 *
 * Bounded: at most MAX_SCRATCH buffers of SCRATCH_BYTES exist; an update that finds none free, or a patch larger
 * than one buffer, inflates on the event loop as before (decodeNdArrayAsync's own path). The daemon starts the worker
 * with itself (`warm`); it is unref'd (it never keeps the daemon alive) and restarted on the next patch if it dies.
 */
import { Worker } from 'node:worker_threads';

export const SCRATCH_BYTES = 1 << 20;
const MAX_SCRATCH = 32;

interface Pending {
  want: number;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
  scratch: SharedArrayBuffer;
}

export class PatchInflater {
  private worker?: Worker;
  private free: SharedArrayBuffer[] = [];
  private created = 0;
  private nextId = 1;
  private pending = new Map<number, Pending>();

  /** Scratch buffers in use (tests: every one comes back). */
  get inUse(): number {
    return this.created - this.free.length;
  }

  /** Start the worker now (the daemon does at start-up), so the first patch does not wait ~0.1 s for it to boot. */
  warm(): void {
    this.start();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./patch-inflater-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number; length?: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      const length = m.length ?? 0;
      if (m.error !== undefined || length > p.want) {
        this.give(p.scratch);
        p.reject(new Error(m.error ?? `the data inflates to more than ${p.want} bytes`));
      } else p.resolve(Buffer.from(p.scratch, 0, length));
    });
    const fail = (e: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        this.give(p.scratch);
        p.reject(e);
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`patch inflater exited (${code})`)));
    this.worker = w;
    return w;
  }

  private take(): SharedArrayBuffer | undefined {
    const s = this.free.pop();
    if (s) return s;
    if (this.created >= MAX_SCRATCH) return undefined;
    this.created++;
    return new SharedArrayBuffer(SCRATCH_BYTES);
  }

  private give(s: SharedArrayBuffer): void {
    this.free.push(s);
  }

  /**
   * For decodeNdArrayAsync's `inflate` hook: the inflated bytes in scratch memory (undefined: inflate on the event
   * loop), and `release`, to be called once the values are no longer read. Rejects when the data does not inflate.
   */
  hook(): { inflate: (deflated: Buffer, want: number) => Promise<Buffer | undefined>; release: () => void } {
    let held: SharedArrayBuffer | undefined;
    return {
      inflate: (deflated, want) => {
        if (want > SCRATCH_BYTES || held) return Promise.resolve(undefined);
        const scratch = this.take();
        if (!scratch) return Promise.resolve(undefined);
        held = scratch;
        const id = this.nextId++;
        return new Promise<Buffer>((resolve, reject) => {
          this.pending.set(id, {
            want,
            resolve,
            reject: (e) => {
              held = undefined; // given back already
              reject(e);
            },
            scratch,
          });
          this.start().postMessage({ id, deflated, want, scratch });
        });
      },
      release: () => {
        if (held) this.give(held);
        held = undefined;
      },
    };
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
