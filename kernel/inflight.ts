import type { Logger } from 'pino';

/**
 * What a plugin uses to run work after its reply without losing it on shutdown: the kernel
 * waits for deferred tasks (within the shutdown deadline) before it closes the database and
 * the plugins' services. Resolved as `lifecycle` from a plugin's container.
 */
export interface Lifecycle {
  /** Runs `task` soon, outside the caller's request; a failure is logged under `what`. */
  defer(what: string, task: () => Promise<unknown>): void;
  /** True once shutdown began (a long-running loop should wind down). */
  readonly stopping: boolean;
  /** Called once when shutdown begins (at once if it has): end long-lived streams so the drain is not held up. */
  onStopping(listener: () => void): void;
}

/**
 * Work in flight that the kernel must let finish before releasing what it uses: HTTP
 * requests, event handlers and deferred tasks. `idle(deadline)` waits for all of it.
 */
export class InFlight {
  private readonly pending = new Map<Promise<unknown>, string>();
  private waiters: Array<() => void> = [];
  private isStopping = false;
  private stopListeners: Array<() => void> = [];
  private closed = false;

  /** Set by the kernel when shutdown begins; tells `onStopping` listeners once. */
  get stopping(): boolean { return this.isStopping; }
  set stopping(value: boolean) {
    if (!value || this.isStopping) return;
    this.isStopping = true;
    for (const listener of this.stopListeners.splice(0)) {
      try {
        listener();
      } catch (err) {
        this.logger.warn({ err }, 'a shutdown listener failed');
      }
    }
  }

  onStopping(listener: () => void): void {
    if (this.isStopping) listener();
    else this.stopListeners.push(listener);
  }

  constructor(private readonly logger: Logger) {}

  /** Work counted by kind without a promise each (HTTP requests): `begin` and one `end` per item. */
  private readonly counted = new Map<string, number>();
  private countedSize = 0;

  get size(): number { return this.pending.size + this.countedSize; }

  /** Counts one item of `what` in flight until `end(what)`: cheaper than `track` on the hot path. */
  begin(what: string): void {
    this.counted.set(what, (this.counted.get(what) ?? 0) + 1);
    this.countedSize++;
  }

  end(what: string): void {
    const n = this.counted.get(what) ?? 0;
    if (n <= 0) return;
    if (n === 1) this.counted.delete(what);
    else this.counted.set(what, n - 1);
    this.countedSize--;
    if (this.size === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Tracks `work` until it settles; returns it unchanged. */
  track<T>(what: string, work: Promise<T>): Promise<T> {
    this.pending.set(work, what);
    // Inline arrows, not a named `const done`: under tsx (esbuild keepNames) a named closure costs an
    // Object.defineProperty per call, and this runs once per request.
    work.then(() => this.settled(work), () => this.settled(work));
    return work;
  }

  private settled(work: Promise<unknown>): void {
    this.pending.delete(work);
    if (this.size === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Starts `task` on the next turn of the event loop, tracked; refused once resources are released. */
  defer(what: string, task: () => Promise<unknown>, logger: Logger = this.logger): void {
    if (this.closed) {
      logger.error({ task: what }, 'deferred work refused: the kernel has stopped');
      return;
    }
    const work = new Promise<void>((resolve) => setImmediate(resolve))
      .then(task)
      .then(() => undefined, (err) => { logger.error({ err, task: what }, `${what} failed`); });
    this.track(what, work);
  }

  /** Resolves true once nothing is in flight, false if `deadline` settles first. */
  async idle(deadline: Promise<unknown>): Promise<boolean> {
    if (this.size === 0) return true;
    let wake!: () => void;
    const emptied = new Promise<true>((resolve) => { wake = () => resolve(true); this.waiters.push(wake); });
    const outcome = await Promise.race([emptied, deadline.then(() => false as const)]);
    this.waiters = this.waiters.filter((w) => w !== wake);
    return outcome;
  }

  /** What is still running, counted by kind (labels never carry request data). */
  summary(): Record<string, number> {
    const counts: Record<string, number> = Object.fromEntries(this.counted);
    for (const what of this.pending.values()) counts[what] = (counts[what] ?? 0) + 1;
    return counts;
  }

  /** After this, deferred work is refused (what it would use is closed). */
  close(): void { this.closed = true; }

  lifecycle(logger: Logger, prefix: string): Lifecycle {
    const self = this;
    return {
      defer: (what, task) => self.defer(`${prefix}: ${what}`, task, logger),
      get stopping() { return self.stopping; },
      onStopping: (listener) => self.onStopping(listener),
    };
  }
}
