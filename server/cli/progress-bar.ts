/**
 * A small terminal progress bar for the CLI and the benchmarks (stderr by default).
 *
 * On a TTY: one line redrawn in place (`\r`), at most ~10 times a second:
 *   `train  [##########..........]  120/400  30%  loss 0.4213  2.41 steps/s  ETA 1m56s`
 * Not a TTY (a log file, a pipe, CI): a plain line every `plainEveryPercent` percent (default 10) and at the end,
 * so logs stay readable. The caller passes the fields to show (`loss`, `steps/s`, ...) with each update.
 */

/** The part of a stream the bar uses (process.stderr satisfies it). */
export interface BarStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  /** Label at the start of the line, e.g. "train". */
  label: string;
  /** Total units (steps, images, ...). */
  total: number;
  /** Unit name shown after the counts ("" = none). */
  unit?: string;
  stream?: BarStream;
  /** Override stream.isTTY (tests). */
  tty?: boolean;
  /** Non-TTY: print a line every this many percent (default 10). */
  plainEveryPercent?: number;
  /** Bar width in characters (default 24). */
  width?: number;
  /** Minimum milliseconds between TTY redraws (default 100). */
  redrawMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export type BarFields = Record<string, string | number | undefined>;

/** "1h02m", "3m05s", "42s", "?" */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.round(s);
  const h = Math.floor(t / 3600),
    m = Math.floor((t % 3600) / 60),
    sec = t % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

function fmtField(v: string | number): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(4);
}

export class ProgressBar {
  private readonly stream: BarStream;
  private readonly tty: boolean;
  private readonly every: number;
  private readonly width: number;
  private readonly redrawMs: number;
  private readonly now: () => number;
  private readonly t0: number;
  private lastDraw = -Infinity;
  private lastPlainBucket = 0;
  private done = 0;
  private fields: BarFields = {};
  private finished = false;
  private lastLen = 0;

  constructor(private readonly opts: ProgressBarOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.every = opts.plainEveryPercent ?? 10;
    this.width = opts.width ?? 24;
    this.redrawMs = opts.redrawMs ?? 100;
    this.now = opts.now ?? Date.now;
    this.t0 = this.now();
  }

  get total(): number {
    return this.opts.total;
  }

  /** Seconds since the bar was created. */
  elapsedS(): number {
    return (this.now() - this.t0) / 1000;
  }

  /** Set progress (`done` may be fractional, e.g. images + tiles) and the fields to show. */
  update(done: number, fields: BarFields = {}): void {
    if (this.finished) return;
    this.done = Math.max(0, Math.min(done, this.opts.total));
    this.fields = fields;
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw >= this.redrawMs || this.done >= this.opts.total) {
        this.lastDraw = t;
        this.drawTty();
      }
      return;
    }
    const pct = this.opts.total > 0 ? (100 * this.done) / this.opts.total : 100;
    const bucket = this.every > 0 ? Math.floor(pct / this.every) : 0;
    if (bucket > this.lastPlainBucket && this.done < this.opts.total) {
      this.lastPlainBucket = bucket;
      this.stream.write(this.line(false) + '\n');
    }
  }

  /** Final line (always printed), then a newline. `message` replaces the fields when given. */
  finish(message?: string): void {
    if (this.finished) return;
    this.finished = true;
    const text = this.line(false, message);
    if (this.tty) this.stream.write('\r' + text + ' '.repeat(Math.max(0, this.lastLen - text.length)) + '\n');
    else this.stream.write(text + '\n');
  }

  private drawTty(): void {
    let text = this.line(true);
    const cols = this.stream.columns ?? 0;
    if (cols > 10 && text.length > cols - 1) text = text.slice(0, cols - 1);
    const pad = Math.max(0, this.lastLen - text.length);
    this.lastLen = text.length;
    this.stream.write('\r' + text + ' '.repeat(pad));
  }

  private line(withBar: boolean, message?: string): string {
    const { total, unit = '', label } = this.opts;
    const frac = total > 0 ? this.done / total : 1;
    const parts = [label];
    if (withBar) {
      const fill = Math.round(frac * this.width);
      parts.push('[' + '#'.repeat(fill) + '.'.repeat(this.width - fill) + ']');
    }
    const shown = Number.isInteger(this.done) ? String(this.done) : this.done.toFixed(1);
    parts.push(`${shown}/${total}${unit ? ' ' + unit : ''}`, `${Math.floor(frac * 100)}%`);
    if (message !== undefined) parts.push(message);
    else for (const [k, v] of Object.entries(this.fields)) if (v !== undefined) parts.push(k ? `${k} ${fmtField(v)}` : fmtField(v));
    if (message === undefined && !('ETA' in this.fields) && frac > 0 && frac < 1) {
      const el = this.elapsedS();
      parts.push(`ETA ${formatDuration((el / frac) * (1 - frac))}`);
    }
    return parts.join('  ');
  }
}
