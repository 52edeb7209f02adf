/**
 * JobQueue port: durable background jobs, delivered at least once under a lease.
 *
 * - A claim gives the worker a `Lease` whose `token` is a fencing token: it grows with every
 *   claim of the job, and every write a worker makes (progress, step, complete, fail, suspend)
 *   names it, so a worker that lost its lease (stalled, then re-claimed elsewhere) writes nothing.
 * - A lease lasts `leaseMs` and is renewed by `heartbeat`; a running job whose lease ran out is
 *   claimable again (the runtime uses a lease of two heartbeats, so a crashed worker's job is re-run
 *   within two heartbeats).
 * - Priority is a number, higher runs first (`low` = -10, `normal` = 0, `high` = 10); equal
 *   priorities run in `runAt` order, then id order.
 * - `dedupKey` makes enqueue idempotent: a second enqueue with a key some job holds returns that job.
 * - A failed attempt is retried after `backoffDelay(attempt)` until `maxAttempts`, then the job is
 *   `failed` (the dead state).
 * Adapters: adapters/jobQueue/memory.ts, adapters/jobQueue/database.ts, adapters/jobQueue/redis.ts.
 * Conformance: test/ports/jobQueue.suite.ts.
 */
import type { EntityManager, MikroORM } from '@mikro-orm/core';

export type JobStatus = 'pending' | 'running' | 'waiting_for_input' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];
export const PRIORITIES = { low: -10, normal: 0, high: 10 } as const;

/** A question a job asked (`ctx.ask`); the answer is stored as the step `ask:<id>`. */
export interface JobDecision {
  id: string;
  question: string;
  options: string[];
  default: string | null;
  /** Epoch ms; past it a claim re-runs the job and the default is taken. Null: waits for ever. */
  expiresAt: number | null;
}

export interface JobError { message: string; code?: string }

export interface JobRecord {
  id: string;
  type: string;
  status: JobStatus;
  parameters: unknown;
  priority: number;
  ownerId: string | null;
  /** What the job is about (a project id, a note id), for filtering. */
  subject: string | null;
  dedupKey: string | null;
  /** Claims so far (a stalled and re-claimed run counts). */
  attempts: number;
  maxAttempts: number;
  /** Epoch ms before which the job is not claimed. */
  runAt: number;
  progress: number;
  stage: string | null;
  stageMessage: string | null;
  result: unknown;
  error: JobError | null;
  /** Set on a job made by `POST /jobs/{id}/retry`: the job it retries. */
  originalJobId: string | null;
  retryCount: number;
  /** Finished durable steps' results by step name. */
  steps: Record<string, unknown>;
  decision: JobDecision | null;
  cancelRequested: boolean;
  /** The current fencing token (0 before the first claim). */
  token: number;
  leaseUntil: number | null;
  workerId: string | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  cancelledAt: number | null;
}

export interface NewJob {
  /** Set by the caller (a UUIDv7) so the id is known before the unit of work commits. */
  id: string;
  type: string;
  parameters?: unknown;
  priority?: number;
  ownerId?: string | null;
  subject?: string | null;
  dedupKey?: string | null;
  /** Not claimed before now + delayMs. */
  delayMs?: number;
  /** Attempts before the job is failed for good (default 3). */
  maxAttempts?: number;
  originalJobId?: string | null;
  retryCount?: number;
}

export interface Lease { id: string; token: number }
export interface Claim { job: JobRecord; lease: Lease }

export interface ClaimOptions {
  workerId: string;
  leaseMs: number;
  /** Job type -> how many more of it this worker may run now (its free slots). */
  slots: Record<string, number>;
  /**
   * Also take stalled runs and questions past their timeout (default true). The worker skips them
   * between its polls, when a finished job frees a slot, to keep that claim to one query.
   */
  recover?: boolean;
}

export interface JobProgress { progress?: number; stage?: string | null; stageMessage?: string | null }
export interface JobLogEntry { level: 'debug' | 'info' | 'warn' | 'error'; message: string; details?: unknown;
  at: number }
export interface JobQuery {
  ownerId?: string; status?: JobStatus; type?: string; subject?: string;
  sort?: 'createdAt' | '-createdAt' | 'priority' | '-priority';
  limit: number; offset: number;
}
export interface JobStats {
  byStatus: Record<string, number>;
  byType: Record<string, Record<string, number>>;
  /** Mean ms from start to completion over completed jobs. */
  averageProcessingMs: number | null;
  /** Pending jobs due now. */
  queueLength: number;
}

export interface JobQueue {
  /**
   * Adds a job. With `em`, the row is staged in the caller's unit of work (adapters that can),
   * so the job exists iff the caller's flush commits. `created` is false when `dedupKey` matched.
   */
  enqueue(job: NewJob, options?: { em?: EntityManager }): Promise<{ job: JobRecord; created: boolean }>;
  /** Takes due jobs (pending, stalled, or waiting past their decision's timeout) up to the slots given. */
  claim(options: ClaimOptions): Promise<Claim[]>;
  /** Renews the lease; false when it is no longer this worker's (stop work, write nothing). */
  heartbeat(lease: Lease, leaseMs: number): Promise<boolean>;
  /** Stores progress and finished steps; false when the lease is lost. */
  update(lease: Lease, patch: JobProgress & { steps?: Record<string, unknown> }): Promise<boolean>;
  /**
   * `next`: the caller claims another job of this type right away, so an adapter may hand one over with
   * the completion (redis: BullMQ's `fetchNext`, one round trip for both); it is leased from then and
   * the caller's next claim returns it. Adapters without that ignore it.
   */
  complete(lease: Lease, result: unknown, options?: { next?: boolean }): Promise<boolean>;
  /** A failed attempt: retried after a backoff while attempts remain (`retryable`), else failed. */
  fail(lease: Lease, error: JobError, options?: { retryable?: boolean; backoffMs?: number }):
    Promise<'retrying' | 'failed' | 'lost'>;
  /** Parks the job as `waiting_for_input` on `decision`, releasing the lease (no slot is held). */
  suspend(lease: Lease, decision: JobDecision): Promise<boolean>;
  /** Answers a waiting job's decision: stores step `ask:<decisionId>` and makes it pending. Null: no such question. */
  answer(id: string, decisionId: string, choice: string): Promise<JobRecord | null>;
  /** Hands a running job back unfinished (graceful shutdown): pending now, this attempt not counted. */
  release(lease: Lease): Promise<boolean>;
  /**
   * Cancels: a pending or waiting job at once; a running one is flagged (`cancelRequested`) for its
   * worker. Returns the job after the change, or null when unknown. A finished job is unchanged.
   */
  cancel(id: string): Promise<JobRecord | null>;
  /** The worker acknowledges a cancel (or a timeout ending in cancel): the job is `cancelled`. */
  markCancelled(lease: Lease): Promise<boolean>;
  /** Of these job ids, the ones flagged for cancel. */
  cancelRequested(ids: string[]): Promise<string[]>;
  get(id: string): Promise<JobRecord | null>;
  list(query: JobQuery): Promise<{ items: JobRecord[]; total: number }>;
  appendLog(id: string, entry: JobLogEntry): Promise<void>;
  logs(id: string, query: { level?: JobLogEntry['level']; limit: number; offset: number }):
    Promise<{ items: JobLogEntry[]; total: number }>;
  stats(): Promise<JobStats>;
  /**
   * Jobs of `type` this process was handed with completions (`complete(..., { next })`) and the next claim
   * returns without a round trip: a worker claims them even for a single free slot.
   */
  handedOver?(type: string): number;
  /** Called once by the kernel after the database opens, for adapters that store jobs in it. */
  attachDatabase?(orm: MikroORM, driver: string): void;
}

const LEVELS: Record<JobLogEntry['level'], number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Logs at `level` or above. */
export const atLeast = (level: JobLogEntry['level'] | undefined) =>
  (e: JobLogEntry) => !level || LEVELS[e.level] >= LEVELS[level];

/**
 * Delay before retry `attempt` (1-based, the attempt that failed): `base * 2^(attempt-1)`, capped at
 * an hour, times a random factor in [0.5, 1) (jitter, so a burst of failures does not retry in step).
 */
export function backoffDelay(attempt: number, baseMs = 1000, random: () => number = Math.random): number {
  const exp = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 3_600_000);
  return Math.round(exp * (0.5 + random() / 2));
}
