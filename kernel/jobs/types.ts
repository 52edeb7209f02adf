/** What a plugin declares under `jobs` and `schedules`, and what its job handlers get. */
import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { JsonSchema } from '../ports/adapter.ts';
import type { DomainEvent } from '../ports/eventBus.ts';
import type { JobLogEntry, JobRecord, PRIORITIES } from '../ports/jobQueue.ts';

/** The job a handler runs. */
export interface JobRun<P = unknown> {
  id: string;
  type: string;
  parameters: P;
  ownerId: string | null;
  subject: string | null;
  priority: number;
  /** 1 on the first run; a retried, recovered or resumed run counts up. */
  attempt: number;
}

export interface AskOptions {
  question: string;
  options: string[];
  /** Taken when nobody answers within `timeoutSeconds` (default: the first option). */
  default?: string;
  /** Omitted: waits until answered or cancelled. */
  timeoutSeconds?: number;
}

/** What a job handler may use besides its job. */
export interface JobContext<Services = Record<string, unknown>> {
  /**
   * Reports progress: with declared `stages`, `percent` is the stage's own and the job's overall
   * progress follows from the stage weights; without, it is the job's.
   */
  progress(percent: number, info?: { stage?: string; message?: string }): Promise<void>;
  log(level: JobLogEntry['level'], message: string, details?: unknown): Promise<void>;
  /** Fires on cancel, timeout or shutdown; pass it to fetches and check it in loops. */
  signal: AbortSignal;
  /**
   * A durable step: its result (JSON) is stored when `fn` resolves, and a retried, recovered or
   * resumed run returns the stored result without running `fn` again. Names are unique per job.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  /**
   * Asks the job's user: the job is parked as `waiting_for_input` (no worker slot held, it survives a
   * restart) and re-run when answered (`POST /jobs/{id}/input`) or timed out; the re-run replays its
   * finished steps and `ask` returns the choice.
   */
  ask(question: AskOptions): Promise<string>;
  /** An EntityManager forked for this run. */
  em: EntityManager;
  services: Services;
  publish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>>;
  logger: Logger;
}

type Handle<P, S> = { bivariant(job: JobRun<P>, ctx: JobContext<S>): Promise<unknown> | unknown }['bivariant'];

/** One job type of a plugin, keyed `<plugin>.<type>` under `jobs`. */
export interface JobDefinition<P = unknown, S = Record<string, unknown>> {
  description?: string;
  /** JSON Schema of the parameters; checked on every enqueue (400 with field details on `POST /jobs`). */
  parameters?: JsonSchema;
  /** Runs of this type at once per worker process (default 4). */
  concurrency?: number;
  /** Per attempt: past it the signal fires and the attempt fails (and is retried while attempts remain). */
  timeoutMs?: number;
  /** Attempts after the first (default 2). */
  retries?: number;
  /** Base of the exponential backoff between attempts (default 1000 ms). */
  backoffMs?: number;
  /** Users may create it with `POST /jobs`. */
  public?: boolean;
  /** Stage name -> weight, for the overall progress and the ETA. */
  stages?: Record<string, number>;
  handle: Handle<P, S>;
}

/** Types the handler's parameters (and services) and returns the definition unchanged. */
export function defineJob<P = unknown, S = Record<string, unknown>>(def: JobDefinition<P, S>): JobDefinition<P, S> {
  return def;
}

/** A recurring job: one run per slot across all instances (the slot is the job's dedup key). */
export interface ScheduleDefinition {
  name: string;
  /** Milliseconds, or `30s`, `5m`, `1h`, `1d`; slots are aligned to the epoch. */
  every?: number | string;
  /** Five fields (minute hour day-of-month month day-of-week), UTC; `*`, lists, ranges and steps. */
  cron?: string;
  /** A job type of any enabled plugin. */
  job: string;
  parameters?: unknown;
}

export type Priority = number | keyof typeof PRIORITIES;

export interface EnqueueOptions {
  /** Stage the job in this unit of work: it exists iff the caller's flush commits. */
  em?: EntityManager;
  ownerId?: string | null;
  subject?: string | null;
  priority?: Priority;
  delayMs?: number;
  dedupKey?: string;
  originalJobId?: string;
  retryCount?: number;
}

/** An event of a job, as the runtime sees it on the instance running it (forwarded to `job:<id>`). */
export interface JobEvent {
  jobId: string;
  ownerId: string | null;
  type: 'progress' | 'log' | 'decision' | 'done' | 'error' | 'status';
  data: Record<string, unknown>;
}

/** The kernel's job service, in every plugin's container as `jobs`. */
export interface Jobs {
  /** Validates the parameters against the type's schema (400 when they do not fit) and enqueues. */
  enqueue(type: string, parameters: unknown, options?: EnqueueOptions): Promise<JobRecord>;
  /** The declared types: name, public flag, parameters schema and stage weights. */
  types(): Array<{ type: string; public: boolean; parameters?: JsonSchema; stages?: Record<string, number> }>;
  /** Listens to events of jobs run in this process; returns the unsubscribe. */
  watch(listener: (event: JobEvent) => void): () => void;
  /** Emits an event for a job changed outside its run (cancelled, answered, retried). */
  notify(event: JobEvent): void;
  /**
   * Answers a waiting job's question for `ownerId` (REST `POST /jobs/{id}/input`, or a WebSocket `answer`):
   * 404 when the job is not theirs, 400 `NO_PENDING_DECISION` or a choice outside the options. The job resumes.
   */
  answer(jobId: string, decisionId: string, choice: string, by: { ownerId: string }): Promise<JobRecord>;
  /** Wakes this process's workers now (after an answer made a job due), instead of at their next poll. */
  wake(): void;
}
