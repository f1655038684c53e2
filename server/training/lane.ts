/**
 * A scheduling lane for one compute worker: urgent tasks (predictions, label syncs, export/import) run first,
 * in arrival order; otherwise training jobs get round-robin slices, so no session starves and a prediction
 * waits at most one slice (ELEPHANT's WAIT state, generalised to many sessions).
 */
export interface Trainer {
  /** Run one slice; resolve false when the trainer has nothing to do right now (it is skipped until woken). */
  slice(): Promise<boolean>;
}

export class Lane {
  private readonly urgent: Array<() => Promise<void>> = [];
  private readonly trainers: Trainer[] = [];
  private readonly idle = new Set<Trainer>();
  private rr = 0;
  /** The trainer whose slice is running, and whether it was woken meanwhile (then it must not go idle). */
  private running?: Trainer;
  private wokenWhileRunning = false;
  private wake?: () => void;
  private stopped = false;
  readonly done: Promise<void>;

  constructor(private readonly onError: (e: unknown) => void) {
    this.done = this.loop();
  }

  /** Queue fn ahead of training; resolves with its result. */
  runUrgent<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.urgent.push(() => fn().then(resolve, reject));
      this.kick();
    });
  }

  addTrainer(t: Trainer): void {
    if (!this.trainers.includes(t)) this.trainers.push(t);
    this.kick();
  }

  removeTrainer(t: Trainer): void {
    const i = this.trainers.indexOf(t);
    if (i >= 0) this.trainers.splice(i, 1);
    this.idle.delete(t);
  }

  /** A trainer that reported "nothing to do" becomes eligible again (e.g. new labels arrived). */
  wakeTrainer(t: Trainer): void {
    this.idle.delete(t);
    if (t === this.running) this.wokenWhileRunning = true;
    this.kick();
  }

  get trainerCount(): number {
    return this.trainers.length;
  }

  stop(): void {
    this.stopped = true;
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const u = this.urgent.shift();
      if (u) {
        await u().catch(this.onError);
        continue;
      }
      const ready = this.trainers.filter((t) => !this.idle.has(t));
      if (ready.length) {
        const t = ready[this.rr++ % ready.length];
        this.running = t;
        this.wokenWhileRunning = false;
        try {
          // A wake (cancel, new labels, a view) that arrived during the slice keeps the trainer eligible.
          if (!(await t.slice()) && !this.wokenWhileRunning) this.idle.add(t);
        } catch (e) {
          this.onError(e);
          this.removeTrainer(t);
        } finally {
          this.running = undefined;
        }
        continue;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
    // Drain urgent work queued before stop so callers are not left hanging.
    for (let u = this.urgent.shift(); u; u = this.urgent.shift()) await u().catch(this.onError);
  }
}
