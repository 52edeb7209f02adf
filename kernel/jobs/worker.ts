/**
 * The job worker of one process: claims due jobs of the declared types up to each type's
 * concurrency, renews their leases (a lease lasts 1.5 heartbeats, so a crashed worker's job is
 * claimable again within two), polls for cancels so one reaches its handler within
 * `cancelPollMs` on any instance, and on stop lets running jobs finish by a deadline, then hands
 * the rest back.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Clock } from '../ports/clock.ts';
import type { DomainEvent } from '../ports/eventBus.ts';
import type { JobQueue } from '../ports/jobQueue.ts';
import type { DeclaredJob } from './client.ts';
import { JobRunner } from './run.ts';
import type { JobEvent } from './types.ts';

export interface WorkerOptions {
  heartbeatMs: number;
  pollMs: number;
  cancelPollMs: number;
}

export interface PluginScope {
  services: unknown;
  publish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>>;
}

export const DEFAULT_CONCURRENCY = 4;

export class JobWorker {
  readonly workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private running = new Map<string, { runner: JobRunner; type: string; done: Promise<void> }>();
  private timers: NodeJS.Timeout[] = [];
  private claiming?: Promise<void>;
  private again = false;
  private stopped = true;
  /** The next claim also takes stalled and timed-out jobs (set by the poll timer). */
  private recover = true;

  constructor(
    private declared: Map<string, DeclaredJob>,
    private queue: JobQueue,
    private options: WorkerOptions,
    private deps: {
      clock: Clock; logger: Logger; emit(e: JobEvent): void; em(ownerId: string | null): EntityManager;
      scope(plugin: string): PluginScope;
    },
  ) {}

  get leaseMs() { return Math.round(this.options.heartbeatMs * 1.5); }
  get active(): number { return this.running.size; }

  start(): void {
    if (!this.declared.size) return;
    this.stopped = false;
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.options.pollMs, () => { this.recover = true; this.kick(); });
    every(this.options.heartbeatMs, () => void this.heartbeat());
    every(this.options.cancelPollMs, () => void this.pollCancels());
    this.kick();
  }

  /** Claims now (or right after the claim in progress). */
  kick(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = this.claimOnce()
      .catch((err) => this.deps.logger.warn({ err }, 'claiming jobs failed'))
      .finally(() => {
        this.claiming = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async claimOnce() {
    const slots: Record<string, number> = {};
    for (const [type, { def }] of this.declared) {
      const limit = def.concurrency ?? DEFAULT_CONCURRENCY;
      const busy = [...this.running.values()].filter((r) => r.type === type).length;
      // A busy type claims once a quarter of its slots are free: one claim per job would double the queries.
      // Jobs the queue already handed over cost no query, so they are claimed for any free slot.
      const quarter = Math.max(1, Math.floor(limit / 4));
      const handed = limit > busy && (this.queue.handedOver?.(type) ?? 0) > 0;
      if (busy === 0 || limit - busy >= quarter || handed) slots[type] = limit - busy;
    }
    if (!Object.keys(slots).length) return;
    const recover = this.recover;
    this.recover = false;
    const claims = await this.queue.claim({ workerId: this.workerId, leaseMs: this.leaseMs, slots, recover });
    for (const claim of claims) {
      const { plugin, def } = this.declared.get(claim.job.type)!;
      const scope = this.deps.scope(plugin);
      const runner = new JobRunner(claim, def, {
        queue: this.queue, clock: this.deps.clock, logger: this.deps.logger, emit: this.deps.emit,
        em: this.deps.em, services: scope.services, publish: scope.publish, wantsMore: () => !this.stopped,
      });
      const done = runner.run().catch((err) => {
        this.deps.logger.error({ err, jobId: claim.job.id }, 'a job run failed outside its handler');
      }).finally(() => {
        this.running.delete(claim.job.id);
        this.kick();
      });
      this.running.set(claim.job.id, { runner, type: claim.job.type, done });
    }
    if (claims.length) this.again = true;
  }

  private async heartbeat() {
    await Promise.all([...this.running.values()].map(async ({ runner }) => {
      const held = await this.queue.heartbeat(runner.claim.lease, this.leaseMs).catch((err) => {
        this.deps.logger.warn({ err, jobId: runner.id }, 'job heartbeat failed');
        return true; // a failed call is not a lost lease; the next beat may get through
      });
      if (!held) runner.stop('lost');
    }));
  }

  private async pollCancels() {
    if (!this.running.size) return;
    const ids = await this.queue.cancelRequested([...this.running.keys()]).catch(() => [] as string[]);
    for (const id of ids) this.running.get(id)?.runner.stop('cancel');
  }

  /** Stops claiming; running jobs may finish until `deadlineMs`, then are signalled and handed back. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.claiming;
    if (!this.running.size) return;
    const heartbeats = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs); });
    await Promise.race([Promise.all([...this.running.values()].map((r) => r.done)), deadline]);
    clearTimeout(timer);
    clearInterval(heartbeats);
    const left = [...this.running.values()];
    for (const { runner } of left) runner.stop('shutdown');
    await Promise.all(left.map(async ({ runner }) => {
      const handedBack = await this.queue.release(runner.claim.lease).catch(() => false);
      this.deps.logger.warn({ jobId: runner.id, handedBack }, 'job still running at the shutdown deadline');
    }));
  }
}
