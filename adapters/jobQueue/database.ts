/**
 * JobQueue on the deployment's own SQL database (the embedded default). Jobs are rows of
 * `kernel_jobs` (the kernel migrates it when this adapter is chosen); `enqueue(job, { em })`
 * stages the row in the caller's unit of work, so a job exists iff the caller's change committed.
 * A claim is one `UPDATE ... WHERE id IN (SELECT ... LIMIT n)`: PostgreSQL adds
 * `FOR UPDATE SKIP LOCKED`, so claimers never wait on each other; SQLite has one writer, so the
 * statement is atomic as it is. Every worker write is fenced by `token` and `status = 'running'`.
 */
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/knex';
import { defineAdapter, type AdapterContext } from '../../kernel/ports/adapter.ts';
import {
  atLeast, backoffDelay, type Claim, type JobLogEntry, type JobQueue, type JobRecord, type JobStatus, type Lease,
  type NewJob,
} from '../../kernel/ports/jobQueue.ts';

const TABLE = 'kernel_jobs';
const LOGS = 'kernel_job_logs';
const ENTITY = 'KernelJob';

type Row = Record<string, unknown>;
/** JSON columns: PostgreSQL's driver parses them; SQLite's come as text. */
export type Decode = (v: unknown) => any;
export const fromText: Decode = (v) => (typeof v === 'string' ? JSON.parse(v) : v ?? null);
export const asParsed: Decode = (v) => v ?? null;
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function fromRow(r: Row, json: Decode): JobRecord {
  return {
    id: String(r.id), type: String(r.type), status: r.status as JobStatus, parameters: json(r.parameters),
    priority: Number(r.priority), ownerId: (r.owner_id as string) ?? null, subject: (r.subject as string) ?? null,
    dedupKey: (r.dedup_key as string) ?? null, attempts: Number(r.attempts), maxAttempts: Number(r.max_attempts),
    runAt: Number(r.run_at), progress: Number(r.progress), stage: (r.stage as string) ?? null,
    stageMessage: (r.stage_message as string) ?? null, result: json(r.result), error: json(r.error),
    originalJobId: (r.original_job_id as string) ?? null, retryCount: Number(r.retry_count),
    steps: json(r.steps) ?? {}, decision: json(r.decision), cancelRequested: Boolean(r.cancel_requested),
    token: Number(r.token), leaseUntil: num(r.lease_until), workerId: (r.worker_id as string) ?? null,
    createdAt: Number(r.created_at), startedAt: num(r.started_at), completedAt: num(r.completed_at),
    cancelledAt: num(r.cancelled_at),
  };
}

/** The row of a new job, as entity properties (camelCase) for `em.create`. */
export function newRow(job: NewJob, now: number): Record<string, unknown> {
  return {
    id: job.id, type: job.type, status: 'pending', parameters: job.parameters ?? {}, priority: job.priority ?? 0,
    ownerId: job.ownerId ?? null, subject: job.subject ?? null, dedupKey: job.dedupKey ?? null, attempts: 0,
    maxAttempts: job.maxAttempts ?? 3, runAt: now + (job.delayMs ?? 0), progress: 0, stage: null, stageMessage: null,
    result: null, error: null, originalJobId: job.originalJobId ?? null, retryCount: job.retryCount ?? 0, steps: {},
    decision: null, decisionExpiresAt: null, cancelRequested: false, token: 0, leaseUntil: null, workerId: null,
    createdAt: now, startedAt: null, completedAt: null, cancelledAt: null,
  };
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const JSON_COLUMNS = new Set(['parameters', 'result', 'error', 'steps', 'decision']);
function toColumns(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) =>
    [snake(k), JSON_COLUMNS.has(k) && v !== null ? JSON.stringify(v) : v]));
}

/** Collects calls while one batch runs; the next batch goes when it ends. */
class Batcher<T> {
  private pending: Array<{ item: T; resolve(ok: boolean): void; reject(err: unknown): void }> = [];
  private running = false;
  constructor(private run: (items: T[]) => Promise<boolean[]>) {}

  add(item: T): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain() {
    this.running = true;
    while (this.pending.length) {
      const batch = this.pending.splice(0, 500);
      try {
        const out = await this.run(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(out[i]));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.running = false;
  }
}

export function createDatabaseJobQueue(ctx: Pick<AdapterContext, 'clock'>): JobQueue {
  const { clock } = ctx;
  let orm: MikroORM | undefined;
  let postgres = false;
  let json: Decode = fromText;
  const toJob = (r: Row) => fromRow(r, json);
  const knex = (): Knex => {
    if (!orm) throw new Error('jobQueue.database: the database is not open (the kernel attaches it at boot)');
    return (orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
  };
  /** A worker write: only while the job is running under this lease's token. */
  const fenced = async (lease: Lease, set: Record<string, unknown>) =>
    (await knex()(TABLE).where({ id: lease.id, token: lease.token, status: 'running' }).update(set)) === 1;
  const finish = (status: JobStatus, extra: Record<string, unknown> = {}) => {
    const now = clock.now();
    return { status, lease_until: null, worker_id: null, completed_at: now, ...extra };
  };
  /**
   * Completions share one UPDATE (and one commit) with those that arrive while the previous batch is
   * in flight: at concurrency 16 a commit per job is the bottleneck. Each is still fenced by its token.
   */
  const completions = new Batcher<{ lease: Lease; result: string }>(async (batch) => {
    const first = new Map<string, number>();
    batch.forEach((b, i) => { if (!first.has(b.lease.id)) first.set(b.lease.id, i); });
    const rows = [...first.values()].map((i) => batch[i]);
    const values = rows.map(() => (postgres ? '(?, ?::integer, ?)' : '(?, ?, ?)')).join(', ');
    const cast = postgres ? '::json' : '';
    const sql = `UPDATE ${TABLE} SET status = 'completed', result = v.result${cast}, progress = 100,
      lease_until = NULL, worker_id = NULL, completed_at = ?
      FROM (SELECT column1 AS id, column2 AS token, column3 AS result FROM (VALUES ${values}) AS x) AS v
      WHERE ${TABLE}.id = v.id AND ${TABLE}.token = v.token AND ${TABLE}.status = 'running' RETURNING ${TABLE}.id`;
    const res = await knex().raw(sql, [clock.now(), ...rows.flatMap((r) => [r.lease.id, r.lease.token, r.result])]);
    const done = new Set(((postgres ? res.rows : res) as Row[]).map((r) => String(r.id)));
    return batch.map((b, i) => first.get(b.lease.id) === i && done.has(b.lease.id));
  });
  const byId = async (id: string) => {
    const r = await knex()(TABLE).where({ id }).first();
    return r ? toJob(r) : null;
  };
  const byDedup = async (key: string) => {
    const r = await knex()(TABLE).where({ dedup_key: key }).first();
    return r ? toJob(r) : null;
  };

  return {
    attachDatabase(o, driver) {
      orm = o;
      postgres = driver === 'postgresql';
      json = postgres ? asParsed : fromText;
    },
    async enqueue(job, options: { em?: EntityManager } = {}) {
      if (job.dedupKey) {
        const existing = await byDedup(job.dedupKey);
        if (existing) return { job: existing, created: false };
      }
      const row = newRow(job, clock.now());
      const record = fromRow(toColumns(row), fromText);
      if (options.em) {
        options.em.create(ENTITY, row);
        return { job: record, created: true };
      }
      const insert = knex()(TABLE).insert(toColumns(row));
      const inserted = job.dedupKey ? await insert.onConflict('dedup_key').ignore() : await insert;
      if (job.dedupKey && !(await byId(job.id))) {
        return { job: (await byDedup(job.dedupKey))!, created: false };
      }
      void inserted;
      return { job: record, created: true };
    },
    async claim({ workerId, leaseMs, slots, recover = true }) {
      const now = clock.now();
      const out: Claim[] = [];
      for (const [type, free] of Object.entries(slots)) {
        if (free <= 0) continue;
        const take = async (due: string, params: number[], limit: number): Promise<Row[]> => {
          const sql = `UPDATE ${TABLE} SET status = 'running', token = token + 1, attempts = attempts + 1,
            lease_until = ?, worker_id = ?, started_at = COALESCE(started_at, ?)
            WHERE id IN (SELECT id FROM ${TABLE} WHERE type = ? AND ${due}
              ORDER BY priority DESC, run_at, id LIMIT ?${postgres ? ' FOR UPDATE SKIP LOCKED' : ''})
            RETURNING *`;
          const res = await knex().raw(sql, [now + leaseMs, workerId, now, type, ...params, limit]);
          return postgres ? res.rows : res;
        };
        // Stalled runs and timed-out questions first (few rows), then pending ones in the due index's order.
        const recovered = !recover ? [] : await take(`((status = 'running' AND lease_until < ?)
          OR (status = 'waiting_for_input' AND decision_expires_at <= ?))`, [now, now], free);
        const rows = recovered.length < free
          ? [...recovered, ...await take(`status = 'pending' AND run_at <= ?`, [now], free - recovered.length)]
          : recovered;
        for (const j of rows.map(toJob)) out.push({ job: j, lease: { id: j.id, token: j.token } });
      }
      return out.sort((a, b) => b.job.priority - a.job.priority || a.job.runAt - b.job.runAt
        || (a.job.id < b.job.id ? -1 : 1));
    },
    heartbeat: (lease, leaseMs) => fenced(lease, { lease_until: clock.now() + leaseMs }),
    async update(lease, patch) {
      const set: Record<string, unknown> = {};
      if (patch.progress !== undefined) set.progress = patch.progress;
      if (patch.stage !== undefined) set.stage = patch.stage;
      if (patch.stageMessage !== undefined) set.stage_message = patch.stageMessage;
      if (!patch.steps) return fenced(lease, Object.keys(set).length ? set : { token: lease.token });
      // Steps merge into the stored map: read and write under the fence in one transaction.
      return knex().transaction(async (trx) => {
        const r = await trx(TABLE).where({ id: lease.id, token: lease.token, status: 'running' }).first('steps');
        if (!r) return false;
        set.steps = JSON.stringify({ ...(json(r.steps) ?? {}), ...patch.steps });
        return (await trx(TABLE).where({ id: lease.id, token: lease.token, status: 'running' }).update(set)) === 1;
      });
    },
    complete: (lease, result) => completions.add({ lease, result: JSON.stringify(result ?? null) }),
    async fail(lease, error, options = {}) {
      const r = await knex()(TABLE).where({ id: lease.id, token: lease.token, status: 'running' })
        .first('attempts', 'max_attempts');
      if (!r) return 'lost';
      const attempts = Number(r.attempts);
      const err = JSON.stringify({ ...error });
      if (options.retryable !== false && attempts < Number(r.max_attempts)) {
        const runAt = clock.now() + backoffDelay(attempts, options.backoffMs);
        const ok = await fenced(lease, { status: 'pending', run_at: runAt, lease_until: null, worker_id: null,
          error: err });
        return ok ? 'retrying' : 'lost';
      }
      return (await fenced(lease, finish('failed', { error: err }))) ? 'failed' : 'lost';
    },
    suspend: (lease, decision) => fenced(lease, {
      status: 'waiting_for_input', decision: JSON.stringify(decision), decision_expires_at: decision.expiresAt,
      lease_until: null, worker_id: null,
    }),
    async answer(id, decisionId, choice) {
      return knex().transaction(async (trx) => {
        const r = await trx(TABLE).where({ id, status: 'waiting_for_input' }).first();
        if (!r || json(r.decision)?.id !== decisionId) return null;
        const steps = { ...(json(r.steps) ?? {}), [`ask:${decisionId}`]: choice };
        const n = await trx(TABLE).where({ id, status: 'waiting_for_input', token: r.token })
          .update({ status: 'pending', run_at: clock.now(), steps: JSON.stringify(steps) });
        return n === 1 ? toJob((await trx(TABLE).where({ id }).first())!) : null;
      });
    },
    release: (lease) => fenced(lease, {
      status: 'pending', attempts: knex().raw('CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END'),
      lease_until: null, worker_id: null, run_at: clock.now(),
    }),
    async cancel(id) {
      const now = clock.now();
      await knex()(TABLE).where({ id }).whereIn('status', ['pending', 'waiting_for_input'])
        .update({ status: 'cancelled', completed_at: now, cancelled_at: now, lease_until: null, worker_id: null });
      await knex()(TABLE).where({ id, status: 'running' }).update({ cancel_requested: true });
      return byId(id);
    },
    markCancelled: (lease) => fenced(lease, finish('cancelled', { cancelled_at: clock.now() })),
    async cancelRequested(ids) {
      if (!ids.length) return [];
      const rows = await knex()(TABLE).whereIn('id', ids).where({ status: 'running', cancel_requested: true })
        .select('id');
      return rows.map((r: Row) => String(r.id));
    },
    get: byId,
    async list(q) {
      const where = (b: Knex.QueryBuilder) => {
        if (q.ownerId) b.where('owner_id', q.ownerId);
        if (q.status) b.where('status', q.status);
        if (q.type) b.where('type', q.type);
        if (q.subject) b.where('subject', q.subject);
        return b;
      };
      const sort = q.sort ?? '-createdAt';
      const column = sort.endsWith('priority') ? 'priority' : 'created_at';
      const dir = sort.startsWith('-') ? 'desc' : 'asc';
      const [rows, [{ n }]] = await Promise.all([
        where(knex()(TABLE)).orderBy([{ column, order: dir }, { column: 'id', order: dir }])
          .limit(q.limit).offset(q.offset),
        where(knex()(TABLE)).count({ n: '*' }),
      ]);
      return { items: rows.map(toJob), total: Number(n) };
    },
    async appendLog(id, entry) {
      await knex()(LOGS).insert({
        job_id: id, level: entry.level, message: entry.message.slice(0, 2000),
        details: entry.details === undefined ? null : JSON.stringify(entry.details), at: entry.at,
      });
    },
    async logs(id, q) {
      const levels = (['debug', 'info', 'warn', 'error'] as const)
        .filter((l) => atLeast(q.level)({ level: l, message: '', at: 0 }));
      const base = () => knex()(LOGS).where({ job_id: id }).whereIn('level', levels);
      const [rows, [{ n }]] = await Promise.all([
        base().orderBy('seq').limit(q.limit).offset(q.offset),
        base().count({ n: '*' }),
      ]);
      return {
        items: rows.map((r: Row): JobLogEntry => ({
          level: r.level as JobLogEntry['level'], message: String(r.message), at: Number(r.at),
          ...(r.details === null ? {} : { details: json(r.details) }),
        })),
        total: Number(n),
      };
    },
    async stats() {
      const now = clock.now();
      const [counts, [avg], [due]] = await Promise.all([
        knex()(TABLE).select('type', 'status').count({ n: '*' }).groupBy('type', 'status'),
        knex()(TABLE).where({ status: 'completed' }).whereNotNull('started_at')
          .select(knex().raw('avg(completed_at - started_at) as ms')),
        knex()(TABLE).where({ status: 'pending' }).where('run_at', '<=', now).count({ n: '*' }),
      ]);
      const byStatus: Record<string, number> = {};
      const byType: Record<string, Record<string, number>> = {};
      for (const c of counts as Row[]) {
        const n = Number(c.n);
        byStatus[String(c.status)] = (byStatus[String(c.status)] ?? 0) + n;
        (byType[String(c.type)] ??= {})[String(c.status)] = n;
      }
      const ms = (avg as Row)?.ms;
      return {
        byStatus, byType, averageProcessingMs: ms === null || ms === undefined ? null : Math.round(Number(ms)),
        queueLength: Number((due as Row).n),
      };
    },
  };
}

export default defineAdapter<JobQueue, Record<string, never>>({
  port: 'jobQueue',
  name: 'database',
  description: "Jobs as rows of the deployment's own SQL database (PostgreSQL or SQLite).",
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: (_options, ctx) => createDatabaseJobQueue(ctx),
});
