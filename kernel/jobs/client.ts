/** The `jobs` service of every plugin's container: typed enqueue with parameter checks, and job events. */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Logger } from 'pino';
import type { IdGenerator } from '../ports/ids.ts';
import { PRIORITIES, type JobQueue, type JobRecord } from '../ports/jobQueue.ts';
import { AppError, errors } from '../errors.ts';
import { toDetails } from '../http/validation.ts';
import type { EnqueueOptions, JobDefinition, JobEvent, Jobs, Priority } from './types.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const DEFAULT_RETRIES = 2;

export interface DeclaredJob { type: string; plugin: string; def: JobDefinition }

export function priorityOf(p: Priority | undefined): number {
  if (p === undefined) return 0;
  if (typeof p === 'number') return p;
  const n = PRIORITIES[p];
  if (n === undefined) throw errors.validation([{ field: 'priority', message: 'must be low, normal or high' }]);
  return n;
}

export class JobsClient implements Jobs {
  private validators = new Map<string, ValidateFunction>();
  private listeners = new Set<(e: JobEvent) => void>();
  /** Called after an enqueue that committed on its own, to wake this process's workers. */
  onEnqueued?: () => void;

  constructor(
    readonly declared: Map<string, DeclaredJob>,
    private queue: () => JobQueue,
    private ids: IdGenerator,
    private logger: Logger,
  ) {
    const ajv = addFormats(new Ajv2020({ allErrors: true, strict: false, useDefaults: true }));
    for (const [type, { def }] of declared) if (def.parameters) this.validators.set(type, ajv.compile(def.parameters));
  }

  /** Checks (and fills defaults into) the parameters; 400 with field details when they do not fit. */
  check(type: string, parameters: unknown): unknown {
    if (!this.declared.has(type)) {
      throw errors.validation([{ field: 'type', message: `unknown job type ${type}`, code: 'enum' }]);
    }
    const value = structuredClone(parameters ?? {});
    const validate = this.validators.get(type);
    if (validate && !validate(value)) throw errors.validation(toDetails(validate.errors, 'parameters'));
    return value;
  }

  async enqueue(type: string, parameters: unknown, o: EnqueueOptions = {}): Promise<JobRecord> {
    const value = this.check(type, parameters);
    const def = this.declared.get(type)!.def;
    const { job } = await this.queue().enqueue({
      id: this.ids.next(), type, parameters: value, priority: priorityOf(o.priority), ownerId: o.ownerId ?? null,
      subject: o.subject ?? null, dedupKey: o.dedupKey ?? null, delayMs: o.delayMs,
      maxAttempts: (def.retries ?? DEFAULT_RETRIES) + 1, originalJobId: o.originalJobId ?? null,
      retryCount: o.retryCount ?? 0,
    }, { em: o.em });
    if (!o.em) this.onEnqueued?.();
    return job;
  }

  types() {
    return [...this.declared.values()].map(({ type, def }) => ({
      type, public: def.public === true, parameters: def.parameters, stages: def.stages,
    }));
  }

  watch(listener: (e: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async answer(jobId: string, decisionId: string, choice: string, by: { ownerId: string }): Promise<JobRecord> {
    const job = await this.queue().get(jobId);
    if (!job || job.ownerId !== by.ownerId) throw errors.notFound('Job not found');
    const d = job.decision;
    if (job.status !== 'waiting_for_input' || !d || d.id !== decisionId) {
      throw new AppError(400, 'NO_PENDING_DECISION', 'The job is not waiting for an answer to this question');
    }
    if (d.options.length && !d.options.includes(choice)) {
      throw errors.validation([{ field: 'body.choice', message: `must be one of: ${d.options.join(', ')}`,
        code: 'enum' }]);
    }
    const answered = await this.queue().answer(jobId, decisionId, choice);
    if (!answered) throw new AppError(400, 'NO_PENDING_DECISION', 'The question was answered or has expired');
    this.notify({ jobId, ownerId: job.ownerId, type: 'decision', data: { decisionId, resolved: true, choice,
      by: 'user' } });
    this.wake();
    return answered;
  }

  wake(): void {
    this.onEnqueued?.();
  }

  notify(event: JobEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.logger.warn({ err, jobId: event.jobId }, 'a job event listener failed');
      }
    }
  }
}
