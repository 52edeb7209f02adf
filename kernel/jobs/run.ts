/** One run of one claimed job: its context (progress, log, step, ask, signal) and how its outcome is stored. */
import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Clock } from '../ports/clock.ts';
import type { DomainEvent } from '../ports/eventBus.ts';
import type { Claim, JobDecision, JobError, JobQueue } from '../ports/jobQueue.ts';
import { isAppError } from '../errors.ts';
import type { AskOptions, JobContext, JobDefinition, JobEvent, JobRun } from './types.ts';

/** Why a run's signal fired. */
export type StopReason = 'cancel' | 'timeout' | 'shutdown' | 'lost' | 'suspended';

/** Thrown out of the handler by `ask`: the job is parked; the run ends without an outcome. */
class Suspended extends Error {
  constructor(readonly decision: JobDecision) { super('the job is waiting for input'); }
}
/** The lease went to another worker: this run writes nothing more. */
class LeaseLost extends Error {
  constructor() { super('the job lease was lost'); }
}

export interface RunDeps {
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  emit(event: JobEvent): void;
  /** A fork for one run, scoped to the job's owner (owned entities read and write only their rows). */
  em(ownerId: string | null): EntityManager;
  services: unknown;
  publish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>>;
  /** The worker will claim again after this run (it is not stopping): the queue may hand the next job over. */
  wantsMore?(): boolean;
}

/** Overall percent from a stage's own percent and the declared stage weights. */
export function overallProgress(stages: Record<string, number> | undefined, stage: string | undefined,
  percent: number): number {
  const p = Math.min(100, Math.max(0, percent));
  if (!stages || !stage || !(stage in stages)) return p;
  const names = Object.keys(stages);
  const total = names.reduce((s, n) => s + stages[n], 0) || 1;
  const before = names.slice(0, names.indexOf(stage)).reduce((s, n) => s + stages[n], 0);
  return Math.round(((before + (stages[stage] * p) / 100) / total) * 1000) / 10;
}

export class JobRunner {
  readonly controller = new AbortController();
  reason?: StopReason;
  private steps: Record<string, unknown>;
  private asks = 0;
  private lost = false;

  constructor(readonly claim: Claim, private def: JobDefinition, private deps: RunDeps) {
    this.steps = { ...claim.job.steps };
  }

  get id() { return this.claim.job.id; }

  stop(reason: StopReason): void {
    if (this.controller.signal.aborted) return;
    this.reason = reason;
    if (reason === 'lost') this.lost = true;
    this.controller.abort(new Error(`job ${reason}`));
  }

  private emit(type: JobEvent['type'], data: Record<string, unknown>) {
    this.deps.emit({ jobId: this.id, ownerId: this.claim.job.ownerId, type, data });
  }

  private async write(ok: Promise<boolean>) {
    if (!(await ok)) {
      this.stop('lost');
      throw new LeaseLost();
    }
  }

  private context(): JobContext<never> {
    const { queue, clock, logger } = this.deps;
    const { lease, job } = this.claim;
    const log = logger.child({ jobId: job.id, jobType: job.type });
    let em: EntityManager | undefined;
    const deps = this.deps;
    return {
      signal: this.controller.signal,
      /** Forked on first use: most runs of a small job never touch the database through it. */
      get em() { return (em ??= deps.em(job.ownerId)); },
      services: this.deps.services as never,
      publish: this.deps.publish,
      logger: log,
      progress: async (percent, info = {}) => {
        const progress = overallProgress(this.def.stages, info.stage, percent);
        await this.write(queue.update(lease, {
          progress, ...(info.stage !== undefined ? { stage: info.stage } : {}),
          ...(info.message !== undefined ? { stageMessage: info.message } : {}),
        }));
        this.emit('progress', { progress, stagePercent: percent, stage: info.stage ?? null,
          message: info.message ?? null });
      },
      log: async (level, message, details) => {
        const entry = { level, message, at: clock.now(), ...(details === undefined ? {} : { details }) };
        await queue.appendLog(job.id, entry);
        log[level]({ details }, message);
        this.emit('log', { ...entry, at: new Date(entry.at).toISOString() });
      },
      step: async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
        if (name in this.steps) return this.steps[name] as T;
        if (this.controller.signal.aborted) throw this.controller.signal.reason;
        const value = (await fn()) ?? null;
        await this.write(queue.update(lease, { steps: { [name]: value } }));
        this.steps[name] = value;
        return value as T;
      },
      ask: (q) => this.ask(q),
    };
  }

  private async ask(q: AskOptions): Promise<string> {
    const { queue, clock } = this.deps;
    const id = `d${++this.asks}`;
    const key = `ask:${id}`;
    if (key in this.steps) return this.steps[key] as string;
    const pending = this.claim.job.decision;
    if (pending?.id === id && pending.expiresAt !== null && pending.expiresAt <= clock.now()) {
      const choice = pending.default ?? pending.options[0] ?? '';
      await this.write(queue.update(this.claim.lease, { steps: { [key]: choice } }));
      this.steps[key] = choice;
      this.emit('decision', { decisionId: id, resolved: true, choice, by: 'timeout' });
      return choice;
    }
    const decision: JobDecision = {
      id, question: q.question, options: q.options, default: q.default ?? q.options[0] ?? null,
      expiresAt: q.timeoutSeconds ? clock.now() + q.timeoutSeconds * 1000 : null,
    };
    await this.write(queue.suspend(this.claim.lease, decision));
    this.stop('suspended');
    throw new Suspended(decision);
  }

  /** Runs the handler and stores its outcome; never throws. */
  async run(): Promise<void> {
    const { queue, logger } = this.deps;
    const { job, lease } = this.claim;
    const run: JobRun = {
      id: job.id, type: job.type, parameters: job.parameters, ownerId: job.ownerId, subject: job.subject,
      priority: job.priority, attempt: job.attempts,
    };
    const timer = this.def.timeoutMs ? setTimeout(() => this.stop('timeout'), this.def.timeoutMs) : undefined;
    timer?.unref();
    this.emit('status', { status: 'running', attempt: job.attempts });
    try {
      const result = await this.def.handle(run, this.context());
      if (this.reason === 'cancel') {
        await this.cancelled();
        return;
      }
      if (this.lost || this.reason === 'suspended') return;
      if (!(await queue.complete(lease, result ?? null, { next: this.deps.wantsMore?.() ?? false }))) {
        logger.warn({ jobId: job.id }, 'job finished after its lease was lost: result discarded');
        return;
      }
      this.emit('done', { result: result ?? null });
    } catch (err) {
      await this.failed(err).catch((e) => logger.error({ err: e, jobId: job.id }, 'storing a job failure failed'));
    } finally {
      clearTimeout(timer);
    }
  }

  private async cancelled() {
    if (!(await this.deps.queue.markCancelled(this.claim.lease))) return;
    this.emit('status', { status: 'cancelled' });
    this.emit('error', { code: 'JOB_CANCELLED', message: 'The job was cancelled', willRetry: false });
  }

  private async failed(err: unknown) {
    const { queue, logger } = this.deps;
    const { job, lease } = this.claim;
    if (err instanceof Suspended) {
      const d = err.decision;
      this.emit('status', { status: 'waiting_for_input' });
      this.emit('decision', { decisionId: d.id, question: d.question, options: d.options, default: d.default,
        expiresAt: d.expiresAt === null ? null : new Date(d.expiresAt).toISOString() });
      return;
    }
    if (err instanceof LeaseLost || this.lost) {
      logger.warn({ jobId: job.id }, 'job lease lost: another worker has it');
      return;
    }
    if (this.reason === 'cancel') return this.cancelled();
    if (this.reason === 'shutdown') return; // handed back by the worker
    const error: JobError = this.reason === 'timeout'
      ? { code: 'JOB_TIMEOUT', message: `The job did not finish within ${this.def.timeoutMs} ms` }
      : { code: isAppError(err) ? err.code : 'JOB_FAILED', message: err instanceof Error ? err.message : String(err) };
    const retryable = !(isAppError(err) && err.status < 500)
      && (err as { retryable?: unknown } | null)?.retryable !== false;
    const outcome = await queue.fail(lease, error, { retryable, backoffMs: this.def.backoffMs });
    if (outcome === 'lost') return;
    logger.warn({ jobId: job.id, jobType: job.type, code: error.code, outcome }, 'job attempt failed');
    // A job's stream ends with `done` or `error`: a retried attempt is a status change, not an end.
    if (outcome === 'retrying') {
      this.emit('status', { status: 'pending', error });
      return;
    }
    this.emit('status', { status: 'failed' });
    this.emit('error', { ...error, willRetry: false });
  }
}
