/** In-process JobQueue for tests and single-process demos: nothing survives a restart. */
import { defineAdapter, type AdapterContext } from '../../kernel/ports/adapter.ts';
import {
  atLeast, backoffDelay, type Claim, type JobLogEntry, type JobQueue, type JobRecord, type JobStats,
  type Lease, type NewJob,
} from '../../kernel/ports/jobQueue.ts';

/** Copies out, so callers never share stored objects. */
const copy = <T>(v: T): T => structuredClone(v);

export function newRecord(job: NewJob, now: number): JobRecord {
  return {
    id: job.id, type: job.type, status: 'pending', parameters: job.parameters ?? {}, priority: job.priority ?? 0,
    ownerId: job.ownerId ?? null, subject: job.subject ?? null, dedupKey: job.dedupKey ?? null, attempts: 0,
    maxAttempts: job.maxAttempts ?? 3, runAt: now + (job.delayMs ?? 0), progress: 0, stage: null, stageMessage: null,
    result: null, error: null, originalJobId: job.originalJobId ?? null, retryCount: job.retryCount ?? 0, steps: {},
    decision: null, cancelRequested: false, token: 0, leaseUntil: null, workerId: null, createdAt: now,
    startedAt: null, completedAt: null, cancelledAt: null,
  };
}

/** Due now: pending past runAt, running with its lease run out, or waiting past its decision's timeout. */
export function claimable(j: JobRecord, now: number): boolean {
  if (j.status === 'pending') return j.runAt <= now;
  if (j.status === 'running') return j.leaseUntil !== null && j.leaseUntil < now;
  if (j.status === 'waiting_for_input') return j.decision?.expiresAt != null && j.decision.expiresAt <= now;
  return false;
}

export const claimOrder = (a: JobRecord, b: JobRecord) =>
  b.priority - a.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function createMemoryJobQueue(ctx: Pick<AdapterContext, 'clock'>): JobQueue {
  const { clock } = ctx;
  const jobs = new Map<string, JobRecord>();
  const byDedup = new Map<string, string>();
  const logs = new Map<string, JobLogEntry[]>();
  const held = (lease: Lease) => {
    const j = jobs.get(lease.id);
    return j && j.status === 'running' && j.token === lease.token ? j : undefined;
  };
  const finish = (j: JobRecord, status: JobRecord['status']) => {
    j.status = status;
    j.leaseUntil = null;
    j.workerId = null;
    j.completedAt = clock.now();
    if (status === 'cancelled') j.cancelledAt = j.completedAt;
  };

  return {
    async enqueue(job) {
      const existing = job.dedupKey ? jobs.get(byDedup.get(job.dedupKey) ?? '') : undefined;
      if (existing) return { job: copy(existing), created: false };
      const record = newRecord(job, clock.now());
      jobs.set(record.id, record);
      if (record.dedupKey) byDedup.set(record.dedupKey, record.id);
      return { job: copy(record), created: true };
    },
    async claim({ workerId, leaseMs, slots, recover = true }) {
      const now = clock.now();
      const out: Claim[] = [];
      for (const [type, free] of Object.entries(slots)) {
        if (free <= 0) continue;
        const due = [...jobs.values()]
          .filter((j) => j.type === type && claimable(j, now) && (recover || j.status === 'pending')).sort(claimOrder);
        for (const j of due.slice(0, free)) {
          j.status = 'running';
          j.token += 1;
          j.attempts += 1;
          j.leaseUntil = now + leaseMs;
          j.workerId = workerId;
          j.startedAt ??= now;
          out.push({ job: copy(j), lease: { id: j.id, token: j.token } });
        }
      }
      return out;
    },
    async heartbeat(lease, leaseMs) {
      const j = held(lease);
      if (!j) return false;
      j.leaseUntil = clock.now() + leaseMs;
      return true;
    },
    async update(lease, patch) {
      const j = held(lease);
      if (!j) return false;
      if (patch.progress !== undefined) j.progress = patch.progress;
      if (patch.stage !== undefined) j.stage = patch.stage;
      if (patch.stageMessage !== undefined) j.stageMessage = patch.stageMessage;
      if (patch.steps) j.steps = { ...j.steps, ...copy(patch.steps) };
      return true;
    },
    async complete(lease, result) {
      const j = held(lease);
      if (!j) return false;
      j.result = copy(result ?? null);
      j.progress = 100;
      finish(j, 'completed');
      return true;
    },
    async fail(lease, error, options = {}) {
      const j = held(lease);
      if (!j) return 'lost';
      j.error = { ...error };
      if (options.retryable !== false && j.attempts < j.maxAttempts) {
        j.status = 'pending';
        j.runAt = clock.now() + backoffDelay(j.attempts, options.backoffMs);
        j.leaseUntil = null;
        j.workerId = null;
        return 'retrying';
      }
      finish(j, 'failed');
      return 'failed';
    },
    async suspend(lease, decision) {
      const j = held(lease);
      if (!j) return false;
      j.status = 'waiting_for_input';
      j.decision = copy(decision);
      j.leaseUntil = null;
      j.workerId = null;
      return true;
    },
    async answer(id, decisionId, choice) {
      const j = jobs.get(id);
      if (!j || j.status !== 'waiting_for_input' || j.decision?.id !== decisionId) return null;
      j.steps = { ...j.steps, [`ask:${decisionId}`]: choice };
      j.status = 'pending';
      j.runAt = clock.now();
      return copy(j);
    },
    async release(lease) {
      const j = held(lease);
      if (!j) return false;
      j.status = 'pending';
      j.attempts = Math.max(0, j.attempts - 1);
      j.leaseUntil = null;
      j.workerId = null;
      j.runAt = clock.now();
      return true;
    },
    async cancel(id) {
      const j = jobs.get(id);
      if (!j) return null;
      if (j.status === 'pending' || j.status === 'waiting_for_input') finish(j, 'cancelled');
      else if (j.status === 'running') j.cancelRequested = true;
      return copy(j);
    },
    async markCancelled(lease) {
      const j = held(lease);
      if (!j) return false;
      finish(j, 'cancelled');
      return true;
    },
    async cancelRequested(ids) {
      return ids.filter((id) => jobs.get(id)?.cancelRequested && jobs.get(id)?.status === 'running');
    },
    async get(id) {
      const j = jobs.get(id);
      return j ? copy(j) : null;
    },
    async list(q) {
      const all = [...jobs.values()].filter((j) => (!q.ownerId || j.ownerId === q.ownerId)
        && (!q.status || j.status === q.status) && (!q.type || j.type === q.type)
        && (!q.subject || j.subject === q.subject));
      const sort = q.sort ?? '-createdAt';
      const key = sort.replace('-', '') as 'createdAt' | 'priority';
      const dir = sort.startsWith('-') ? -1 : 1;
      all.sort((a, b) => dir * (a[key] - b[key]) || dir * (a.id < b.id ? -1 : 1));
      return { items: all.slice(q.offset, q.offset + q.limit).map(copy), total: all.length };
    },
    async appendLog(id, entry) {
      const list = logs.get(id) ?? [];
      list.push(copy(entry));
      logs.set(id, list);
    },
    async logs(id, q) {
      const all = (logs.get(id) ?? []).filter(atLeast(q.level));
      return { items: all.slice(q.offset, q.offset + q.limit).map(copy), total: all.length };
    },
    async stats() {
      return statsOf([...jobs.values()], clock.now());
    },
  };
}

export function statsOf(all: JobRecord[], now: number): JobStats {
  const byStatus: Record<string, number> = {};
  const byType: Record<string, Record<string, number>> = {};
  let total = 0;
  let done = 0;
  for (const j of all) {
    byStatus[j.status] = (byStatus[j.status] ?? 0) + 1;
    (byType[j.type] ??= {})[j.status] = (byType[j.type][j.status] ?? 0) + 1;
    if (j.status === 'completed' && j.startedAt !== null && j.completedAt !== null) {
      total += j.completedAt - j.startedAt;
      done++;
    }
  }
  const queueLength = all.filter((j) => j.status === 'pending' && j.runAt <= now).length;
  return { byStatus, byType, averageProcessingMs: done ? Math.round(total / done) : null, queueLength };
}


export default defineAdapter<JobQueue, Record<string, never>>({
  port: 'jobQueue',
  name: 'memory',
  description: 'In-process jobs (tests, single process); lost on restart.',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  local: true,
  create: (_options, ctx) => createMemoryJobQueue(ctx),
});
