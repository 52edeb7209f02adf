import type { JobQueue, JobRecord, JobStatus, Jobs, PageRequest, Priority, Principal } from '../../kernel/index.ts';
import { AppError, decodeCursor, encodeCursor, errors, MAX_PAGE_LIMIT } from '../../kernel/index.ts';
import type { Clock } from '../../kernel/ports/clock.ts';
import { toLogView, toView } from './view.ts';
import type { JobView } from './api.ts';

export interface ListQuery {
  status?: JobStatus; type?: string; subject?: string; ownerId?: string;
  sort?: 'createdAt' | '-createdAt' | 'priority' | '-priority';
}

/** Offset paging under either wire style: the cursor is the next offset, opaque to clients. */
function window(paging: PageRequest | undefined) {
  const limit = Math.min(MAX_PAGE_LIMIT, paging?.limit ?? 20);
  if (paging?.style === 'page') return { limit, offset: (paging.page - 1) * limit };
  const at = decodeCursor(paging?.cursor, (v) => /^\d{1,9}$/.test(v));
  return { limit, offset: at === undefined ? 0 : Number(at) };
}

function pageOf<T>(paging: PageRequest | undefined, w: { limit: number; offset: number }, data: T[],
  total: number) {
  if (paging?.style === 'page') {
    return { data, pagination: { page: paging.page, limit: w.limit, total, totalPages: Math.ceil(total / w.limit),
      hasMore: w.offset + data.length < total } };
  }
  const next = w.offset + data.length < total ? encodeCursor(String(w.offset + data.length)) : null;
  return { data, pagination: { limit: w.limit, nextCursor: next, total } };
}

const CANCEL_WAIT_MS = 2000;

/** The jobs API for the request's principal: their own jobs only (another user's is a 404). */
export class JobsApi {
  constructor(private queue: JobQueue, private jobs: Jobs, private clock: Clock, private principal?: Principal) {}

  private get me(): string {
    if (!this.principal) throw errors.unauthorized();
    return this.principal.id;
  }

  private view = (j: JobRecord) => toView(j, this.clock.now());

  /** The caller's job, or 404. */
  async load(id: string): Promise<JobRecord> {
    const job = await this.queue.get(id);
    if (!job || job.ownerId !== this.me) throw errors.notFound('Job not found');
    return job;
  }

  async list(q: ListQuery, paging: PageRequest | undefined, all = false) {
    const w = window(paging);
    const { items, total } = await this.queue.list({
      ownerId: all ? q.ownerId : this.me, status: q.status, type: q.type, subject: q.subject, sort: q.sort, ...w,
    });
    return pageOf(paging, w, items.map(this.view), total);
  }

  async get(id: string): Promise<JobView> {
    return this.view(await this.load(id));
  }

  async logs(id: string, level: 'debug' | 'info' | 'warn' | 'error' | undefined, paging: PageRequest | undefined) {
    await this.load(id);
    const w = window(paging);
    const { items, total } = await this.queue.logs(id, { level, ...w });
    return pageOf(paging, w, items.map(toLogView), total);
  }

  async create(body: { type: string; parameters?: unknown; priority?: Priority; subject?: string }) {
    const declared = this.jobs.types().find((t) => t.type === body.type);
    if (!declared?.public) {
      throw errors.validation([{ field: 'body.type', message: 'is not a job type you may create', code: 'enum' }]);
    }
    const job = await this.jobs.enqueue(body.type, body.parameters ?? {}, {
      ownerId: this.me, priority: body.priority, subject: body.subject,
    });
    return this.view(job);
  }

  /** Cancels; a running job is given up to CANCEL_WAIT_MS to stop, so the answer usually says `cancelled`. */
  async cancel(id: string): Promise<JobView> {
    const job = await this.load(id);
    if (job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled') {
      throw new AppError(400, 'JOB_NOT_CANCELLABLE', `The job is ${job.status} and cannot be cancelled`);
    }
    let now = (await this.queue.cancel(id))!;
    if (now.status === 'cancelled') {
      this.jobs.notify({ jobId: id, ownerId: now.ownerId, type: 'status', data: { status: 'cancelled' } });
      this.jobs.notify({ jobId: id, ownerId: now.ownerId, type: 'error',
        data: { code: 'JOB_CANCELLED', message: 'The job was cancelled', willRetry: false } });
      return this.view(now);
    }
    const until = Date.now() + CANCEL_WAIT_MS;
    while (now.status === 'running' && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = (await this.queue.get(id))!;
    }
    return this.view(now);
  }

  async retry(id: string, retryParameters: Record<string, unknown> | undefined) {
    const job = await this.load(id);
    if (job.status !== 'failed' && job.status !== 'cancelled') {
      throw new AppError(400, 'JOB_NOT_RETRYABLE', `Only failed or cancelled jobs can be retried; this one is ${
        job.status}`);
    }
    const base = typeof job.parameters === 'object' && job.parameters !== null ? job.parameters : {};
    const created = await this.jobs.enqueue(job.type, { ...base, ...retryParameters }, {
      ownerId: job.ownerId, subject: job.subject, priority: job.priority,
      originalJobId: job.originalJobId ?? job.id, retryCount: job.retryCount + 1,
    });
    return this.view(created);
  }

  stats() {
    return this.queue.stats();
  }

  async input(id: string, decisionId: string, choice: string): Promise<JobView> {
    return this.view(await this.jobs.answer(id, decisionId, choice, { ownerId: this.me }));
  }
}
