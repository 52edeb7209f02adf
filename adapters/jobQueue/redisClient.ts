/**
 * JobQueue on BullMQ. One BullMQ queue per job type (so a claim takes up to each type's free slots);
 * workers fetch jobs by hand (`getNextJob`, no BullMQ processor) because the kernel's runtime owns the
 * run. What BullMQ gives: the wait/prioritized/delayed structures and their scripts, the claim with
 * a lock (its TTL is the lease, `extendLock` the heartbeat), completion and failure. What we add:
 * - a fencing token per attempt (BullMQ's `ats`, attempts started) and fenced writes of progress and
 *   steps (our script checks the claim's lock token; see redisLua.ts);
 * - our retry backoff with jitter (`moveToDelayed`), a dead state, dedup keys, `waiting_for_input`;
 * - stalled recovery in the claim (a lockless active job goes back to wait), not BullMQ's two-pass
 *   checker, so a crashed worker's job is re-run within the lease plus one poll;
 * - cancel from any instance: a flag in the job's hash, polled by the worker holding the job;
 * - the outbox: `enqueue(job, { em })` stages a `kernel_jobs` row in the caller's unit of work and a
 *   relay moves committed rows into Redis (idempotently: BullMQ ignores a second add of an id), then
 *   deletes them. A job therefore exists iff its change committed, also if Redis was down then.
 */
import { Redis } from 'ioredis';
import { Queue, Worker, type Job } from 'bullmq';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/knex';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import {
  atLeast, backoffDelay, TERMINAL, type Claim, type JobLogEntry, type JobQueue, type JobRecord, type JobStatus,
  type Lease, type NewJob,
} from '../../kernel/ports/jobQueue.ts';
import { AppError, errors } from '../../kernel/errors.ts';
import { connectRedis } from '../shared/redis.ts';
import { newRecord, statsOf, claimOrder } from './memory.ts';
import { asParsed, fromRow, fromText, newRow, type Decode } from './database.ts';
import { ADMIT, ANSWER, CANCEL, FENCE, READ, RECOVER } from './redisLua.ts';

export interface RedisJobQueueOptions {
  url: string;
  keyPrefix?: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** How often the relay looks for committed jobs to move into Redis (a staged enqueue also kicks it). */
  relayPollMs?: number;
}

/** The job's fixed fields, as BullMQ's `data`. */
interface Fixed { p: unknown; pr: number; o: string | null; s: string | null; k: string | null; m: number;
  oj: string | null; rc: number; c: number; dl: number }

type Hash = Record<string, string>;
interface Held { job: Job; lock: string; type: string; startedAt: number; rel: number }

/** BullMQ runs lower numbers first (1 .. 2^21); ours runs higher first around 0. */
const MID = 2 ** 20;
const bullPriority = (p: number) => Math.min(2 ** 21 - 1, Math.max(1, MID - Math.round(p)));
/** A question without a timeout waits in the delayed set this far ahead (answers promote it). */
const FAR_MS = 5 * 365 * 86_400_000;

const pairs = (flat: string[]): Hash => {
  const h: Hash = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]] = flat[i + 1];
  return h;
};
const parse = (v: string | undefined) => (v === undefined ? null : JSON.parse(v));
const num = (v: string | undefined) => (v === undefined ? null : Number(v));

export function toRecord(type: string, id: string, h: Hash, lock: string, pttl: number, steps: Hash,
  now: number): JobRecord {
  const d = JSON.parse(h.data) as Fixed;
  const kst = (h.kst ?? 'pending') as JobStatus;
  // A completion is BullMQ's own move (one fenced script): its finishedOn and returnvalue are ours.
  const done = kst === 'pending' && h.finishedOn !== undefined && h.failedReason === undefined;
  const status: JobStatus = done ? 'completed' : kst === 'pending' && lock ? 'running' : kst;
  if (status !== 'running') lock = ''; // a parked or finished job holds no lease (BullMQ's move may trail)
  const ats = Number(h.ats ?? 0);
  return {
    id, type, status, parameters: d.p, priority: d.pr, ownerId: d.o, subject: d.s, dedupKey: d.k,
    attempts: ats - Number(h.krel ?? 0), maxAttempts: d.m, runAt: num(h.krun) ?? d.c + d.dl,
    progress: done ? 100 : num(h.kpr) ?? 0, stage: h.kstg ?? null, stageMessage: h.kmsg ?? null,
    result: done ? parse(h.returnvalue) : null,
    error: parse(h.kerr), originalJobId: d.oj, retryCount: d.rc,
    steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, JSON.parse(v)])),
    decision: parse(h.kdec), cancelRequested: h.kcan === '1', token: ats,
    leaseUntil: lock && pttl > 0 ? now + pttl : null, workerId: lock ? lock.slice(0, lock.lastIndexOf('|')) : null,
    createdAt: d.c, startedAt: num(h.kstart) ?? num(h.processedOn), completedAt: num(h.kdone) ?? num(h.finishedOn),
    cancelledAt: num(h.kcx),
  };
}

type Scripted = Redis & Record<'kjFence' | 'kjCancel' | 'kjAnswer' | 'kjRecover' | 'kjAdmit' | 'kjRead',
  (...args: Array<string | number>) => Promise<unknown>>;

export async function createRedisJobQueue(options: RedisJobQueueOptions, ctx: AdapterContext):
  Promise<JobQueue & AdapterLifecycle> {
  const { clock, logger } = ctx;
  const prefix = options.keyPrefix || 'kjobs';
  const cmd = await connectRedis(new Redis(options.url, {
    lazyConnect: true, connectTimeout: options.connectTimeoutMs ?? 2000,
    commandTimeout: options.commandTimeoutMs ?? 5000, maxRetriesPerRequest: 1,
  }), options.url, logger, 'redis jobs') as Scripted;
  // BullMQ's connection retries for ever (its requirement); our calls above fail fast instead.
  const bull = new Redis(options.url, { maxRetriesPerRequest: null, connectTimeout: options.connectTimeoutMs ?? 2000 });
  bull.on('error', () => {}); // the command connection logs the state changes
  const scripts = { kjFence: [FENCE, 3], kjCancel: [CANCEL, 2], kjAnswer: [ANSWER, 3], kjRecover: [RECOVER, 2],
    kjAdmit: [ADMIT, 4], kjRead: [READ, 1] } as const;
  for (const [name, [lua, numberOfKeys]] of Object.entries(scripts)) cmd.defineCommand(name, { lua, numberOfKeys });

  const key = (s: string) => `${prefix}:${s}`;
  const INDEX = key('k:index');
  const CREATED = key('k:created');
  const jobKey = (type: string, id: string) => `${prefix}:${type}:${id}`;
  const queues = new Map<string, Queue>();
  const workers = new Map<string, Worker>();
  const checkType = (type: string) => {
    if (type.includes(':')) throw errors.validation([{ field: 'type', message: 'must not contain ":"' }]);
    return type;
  };
  const queue = (type: string) => {
    let q = queues.get(type);
    if (!q) {
      queues.set(type, (q = new Queue(checkType(type), { connection: bull, prefix })));
      q.on('error', (err) => logger.warn({ err, jobType: type }, 'BullMQ queue error'));
    }
    return q;
  };
  const worker = (type: string) => {
    let w = workers.get(type);
    if (!w) {
      w = new Worker(checkType(type), null, {
        connection: bull, prefix, autorun: false, skipStalledCheck: true, skipLockRenewal: true,
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      });
      w.on('error', (err) => logger.warn({ err, jobType: type }, 'BullMQ worker error'));
      workers.set(type, w);
    }
    return w;
  };
  async function call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if ((err as { status?: number }).status) throw err;
      throw errors.unavailable('jobQueue', 5, err);
    }
  }

  const held = new Map<string, Held>();
  /**
   * Jobs BullMQ handed over with a completion (`fetchNext`, as its own workers do: the next job comes in
   * the same round trip), locked for this process until the runtime's next claim takes them.
   */
  const prefetched = new Map<string, Array<{ job: Job; lock: string; at: number }>>();
  const PREFETCH_MAX = 16;
  const leaseKey = (l: Lease) => `${l.id}#${l.token}`;
  /**
   * The newest claim of each job in this process. BullMQ reuses a lock token along a chain of `fetchNext`
   * completions, so lock tokens are not unique per claim here: as a second fence, only a job's newest
   * claim (by attempt) may write.
   */
  const newest = new Map<string, number>();
  const holding = (l: Lease) => (newest.get(l.id) === l.token ? held.get(leaseKey(l)) : undefined);
  let seq = 0;

  /** Reads jobs by id (one round trip); unknown ids are left out. */
  async function read(ids: string[]): Promise<JobRecord[]> {
    if (!ids.length) return [];
    const now = clock.now();
    const rows = await call(() => cmd.kjRead(INDEX, prefix, ...ids)) as Array<[string, string[], string, number,
      string[]] | ['']>;
    const out: JobRecord[] = [];
    rows.forEach((r, i) => {
      if (r[0] !== '') out.push(toRecord(r[0], ids[i], pairs(r[1]!), r[2]!, Number(r[3]), pairs(r[4]!), now));
    });
    return out;
  }

  // ---- the outbox: rows staged in the caller's unit of work, moved into Redis after the commit ----
  let orm: MikroORM | undefined;
  let json: Decode = fromText;
  const knex = (): Knex => (orm!.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
  const OUTBOX = 'kernel_jobs';
  let relayTimer: NodeJS.Timeout | undefined;
  let relaying: Promise<void> | undefined;
  let relayAgain = false;
  let relayFailing = false;
  let closed = false;

  async function admit(job: NewJob, createdAt: number): Promise<{ job: JobRecord; created: boolean }> {
    const record = newRecord(job, createdAt);
    const fixed: Fixed = { p: record.parameters, pr: record.priority, o: record.ownerId, s: record.subject,
      k: record.dedupKey, m: record.maxAttempts, oj: record.originalJobId, rc: record.retryCount, c: createdAt,
      dl: job.delayMs ?? 0 };
    const holder = await call(() => cmd.kjAdmit(INDEX, CREATED, key(`k:owner:${record.ownerId ?? ''}`),
      key(`k:dedup:${record.dedupKey ?? ''}`), record.id, checkType(record.type), createdAt,
      record.ownerId ? '1' : '0', record.dedupKey ? '1' : '0')) as string;
    if (holder !== record.id) {
      const [existing] = await read([holder]);
      if (existing) return { job: existing, created: false };
    }
    const delay = Math.max(0, record.runAt - clock.now());
    await call(() => queue(record.type).add(record.type, fixed, {
      jobId: record.id, priority: bullPriority(record.priority), ...(delay ? { delay } : {}),
    }));
    return { job: record, created: true };
  }

  /** Moves committed outbox rows into Redis, oldest first; a row is deleted only once Redis has its job. */
  async function relayPass(): Promise<void> {
    if (!orm || closed) return;
    for (;;) {
      const rows = await knex()(OUTBOX).orderBy('id').limit(200) as Array<Record<string, unknown>>;
      if (!rows.length) return;
      const done: string[] = [];
      try {
        for (const r of rows.map((row) => fromRow(row, json))) {
          await admit({
            id: r.id, type: r.type, parameters: r.parameters, priority: r.priority, ownerId: r.ownerId,
            subject: r.subject, dedupKey: r.dedupKey, delayMs: r.runAt - r.createdAt, maxAttempts: r.maxAttempts,
            originalJobId: r.originalJobId, retryCount: r.retryCount,
          }, r.createdAt);
          done.push(r.id);
        }
        if (relayFailing) logger.info('jobs relay: Redis takes jobs again');
        relayFailing = false;
      } finally {
        if (done.length) {
          // Cancelled while in the outbox (see `cancel`): re-read just before the delete, so no cancel is lost.
          const cancelled = await knex()(OUTBOX).whereIn('id', done).where({ status: 'cancelled' }).select('id');
          for (const { id } of cancelled as Array<{ id: string }>) await cancelInRedis(String(id));
          await knex()(OUTBOX).whereIn('id', done).delete();
        }
      }
      if (rows.length < 200) return;
    }
  }
  function kickRelay(): void {
    if (closed || !orm) return;
    if (relaying) {
      relayAgain = true;
      return;
    }
    relaying = relayPass().catch((err) => {
      if (!relayFailing) logger.warn({ err }, 'jobs relay: moving committed jobs into Redis failed; will retry');
      relayFailing = true;
    }).finally(() => {
      relaying = undefined;
      if (relayAgain) {
        relayAgain = false;
        kickRelay();
      }
    });
  }
  /** Cancels a job Redis has (false when it has none with this id). */
  async function cancelInRedis(id: string): Promise<boolean> {
    const type = await call(() => cmd.hget(INDEX, id));
    if (!type) return false;
    const k = jobKey(type, id);
    await call(() => cmd.kjCancel(k, `${k}:lock`, clock.now()));
    return true;
  }
  /** A job committed but not yet relayed is pending (or cancelled) in the outbox. */
  async function fromOutbox(id: string): Promise<JobRecord | null> {
    if (!orm) return null;
    const r = await knex()(OUTBOX).where({ id }).first();
    return r ? fromRow(r, json) : null;
  }

  // ---- worker writes, fenced by the claim's lock ----
  async function fence(lease: Lease, set: Record<string, string | number>, del: string[] = [],
    steps: Record<string, unknown> = {}): Promise<Held | undefined> {
    const h = holding(lease);
    if (!h) return undefined;
    const k = jobKey(h.type, lease.id);
    const sets = Object.entries(set).flat();
    const stepArgs = Object.entries(steps).flatMap(([name, v]) => [name, JSON.stringify(v ?? null)]);
    if (stepArgs.length) sets.push('kns', '1');
    const ok = await call(() => cmd.kjFence(k, `${k}:lock`, `${k}:ksteps`, h.lock, h.startedAt, sets.length / 2,
      ...sets, del.length, ...del, stepArgs.length / 2, ...stepArgs));
    if (ok !== 1) {
      end(lease);
      return undefined;
    }
    return h;
  }
  /** After a fenced terminal write: BullMQ's own bookkeeping (a failure here is healed by recovery). */
  const bullMove = async (what: string, h: Held, move: () => Promise<unknown>) => {
    try {
      await move();
    } catch (err) {
      logger.warn({ err, jobId: h.job.id, what }, 'BullMQ did not take the move; the claim recovers it');
    }
  };
  const end = (lease: Lease) => {
    held.delete(leaseKey(lease));
    if (newest.get(lease.id) === lease.token) newest.delete(lease.id);
  };

  /** Reads the raw hashes of just-claimed jobs (BullMQ's Job drops our fields): one round trip per batch. */
  async function readRaw(type: string, ids: string[]) {
    const rows = await call(() => cmd.kjRead(INDEX, prefix, ...ids)) as Array<[string, string[], string, number,
      string[]] | ['']>;
    return rows.map((r) => (r[0] === '' ? undefined : { h: pairs(r[1]!), lock: r[2]!, steps: pairs(r[4]!) }));
  }

  /** Turns fetched BullMQ jobs into claims; cancelled or still-waiting ones go back (healing a crash). */
  async function admitClaims(type: string, got: Array<{ job: Job; lock: string }>, leaseMs: number,
    workerId: string) {
    const touched = got.filter((g) => g.job.progress !== 0);
    const read = touched.length ? await readRaw(type, touched.map((g) => g.job.id!)) : [];
    const byId = new Map(touched.map((g, i) => [g.job.id!, read[i]]));
    // Untouched (BullMQ's progress is 0): none of our fields; the claimed job is all there is to read.
    const raws = got.map(({ job }) => (byId.has(job.id!) ? byId.get(job.id!) : {
      h: { data: JSON.stringify(job.data), ats: String(job.attemptsStarted),
        ...(job.processedOn ? { processedOn: String(job.processedOn) } : {}) } as Hash, lock: '', steps: {} }));
    const now = clock.now();
    const out: Claim[] = [];
    await Promise.all(got.map(async ({ job, lock }, i) => {
      const raw = raws[i];
      const h: Held = { job, lock, type, startedAt: Number(raw?.h.kstart ?? now), rel: Number(raw?.h.krel ?? 0) };
      const kst = (raw?.h.kst ?? 'pending') as JobStatus;
      if (!raw || TERMINAL.includes(kst)) { // cancelled while it waited: BullMQ still listed it
        await bullMove('complete', h, () => job.moveToCompleted(null, lock, false));
        return;
      }
      if (kst === 'waiting_for_input') {
        const d = parse(raw.h.kdec) as JobRecord['decision'];
        if (!(d?.expiresAt != null && d.expiresAt <= now)) { // back to waiting
          await bullMove('delay', h, () => job.moveToDelayed(d?.expiresAt ?? Date.now() + FAR_MS, lock));
          return;
        }
      }
      const record = toRecord(type, job.id!, raw.h, lock, leaseMs, raw.steps, now);
      record.status = 'running';
      record.startedAt ??= now;
      record.workerId = workerId;
      const older = newest.get(record.id);
      if (older !== undefined) held.delete(`${record.id}#${older}`);
      held.set(`${record.id}#${record.token}`, h);
      newest.set(record.id, record.token);
      out.push({ job: record, lease: { id: record.id, token: record.token } });
    }));
    return out;
  }

  const api: JobQueue & AdapterLifecycle = {
    attachDatabase(o, driver) {
      if (driver === 'mongodb') return;
      orm = o;
      json = driver === 'postgresql' ? asParsed : fromText;
      relayTimer = setInterval(kickRelay, options.relayPollMs ?? 200);
      relayTimer.unref();
      kickRelay();
    },
    async enqueue(job, o: { em?: EntityManager } = {}) {
      checkType(job.type);
      if (!o.em) return admit(job, clock.now());
      if (!orm) {
        throw new AppError(503, 'JOBS_UNAVAILABLE', 'Jobs made in a unit of work need a SQL database (the outbox)', {
          headers: { 'Retry-After': '3600' },
        });
      }
      if (job.dedupKey) {
        const holder = await call(() => cmd.get(key(`k:dedup:${job.dedupKey}`)));
        const [existing] = holder ? await read([holder]) : [];
        if (existing) return { job: existing, created: false };
      }
      const now = clock.now();
      o.em.create('KernelJob', newRow(job, now));
      // The caller's flush commits it; the relay takes it then (or at its next poll).
      for (const ms of [20, 100]) setTimeout(kickRelay, ms).unref();
      return { job: newRecord(job, now), created: true };
    },
    async claim({ workerId, leaseMs, slots, recover = true }) {
      const out: Claim[] = [];
      await Promise.all(Object.entries(slots).filter(([, n]) => n > 0).map(async ([type, free]) => {
        const w = worker(type);
        w.opts.lockDuration = leaseMs;
        if (recover) {
          const base = `${prefix}:${type}:`;
          await call(() => cmd.kjRecover(`${base}active`, `${base}wait`, base));
        }
        let got = 0;
        // Prefetched jobs first; one held past half its lease is left to run out and be recovered.
        const ready = (prefetched.get(type) ?? []).filter((p) => Date.now() - p.at < leaseMs / 2);
        prefetched.set(type, ready.slice(free));
        if (ready.length) {
          const claims = await admitClaims(type, ready.slice(0, free), leaseMs, workerId);
          out.push(...claims);
          got += claims.length;
        }
        for (let round = 0; got < free && round < 20; round++) {
          const fetched = await Promise.all(Array.from({ length: free - got }, async () => {
            const lock = `${workerId}|${++seq}`;
            const job = await call(() => w.getNextJob(lock, { block: false }));
            return job ? { job, lock } : undefined;
          }));
          const jobs = fetched.filter((f) => f !== undefined);
          if (jobs.length) {
            const claims = await admitClaims(type, jobs, leaseMs, workerId);
            out.push(...claims);
            got += claims.length;
          }
          if (jobs.length < fetched.length) break;
        }
      }));
      return out.sort((a, b) => claimOrder(a.job, b.job));
    },
    handedOver: (type) => prefetched.get(type)?.length ?? 0,
    async heartbeat(lease, leaseMs) {
      const h = holding(lease);
      if (!h) return false;
      const ok = await call(() => h.job.extendLock(h.lock, leaseMs));
      if (!ok) end(lease);
      return Boolean(ok);
    },
    async update(lease, patch) {
      const set: Record<string, string | number> = {};
      const del: string[] = [];
      if (patch.progress !== undefined) set.kpr = patch.progress;
      const opt = (field: string, v: string | null | undefined) => {
        if (v === undefined) return;
        if (v === null) del.push(field);
        else set[field] = v;
      };
      opt('kstg', patch.stage);
      opt('kmsg', patch.stageMessage);
      return Boolean(await fence(lease, set, del, patch.steps ?? {}));
    },
    async complete(lease, result, o = {}) {
      // BullMQ's move checks the lock token itself and stores the result: one script, atomic.
      const h = holding(lease);
      if (!h) return false;
      end(lease);
      try {
        const next = await h.job.moveToCompleted(result ?? null, h.lock,
          o.next === true && !closed && (prefetched.get(h.type)?.length ?? 0) < PREFETCH_MAX);
        if (Array.isArray(next) && next[0]) {
          const w = worker(h.type) as unknown as { nextJobFromJobData(d: unknown, id: unknown, t: string):
            Promise<Job | undefined> };
          const job = await w.nextJobFromJobData(next[0], next[1], h.lock);
          if (job) prefetched.set(h.type, [...prefetched.get(h.type) ?? [], { job, lock: h.lock, at: Date.now() }]);
        }
        return true;
      } catch (err) {
        if (/lock|not in the active state|Missing key/i.test((err as Error).message)) return false;
        throw errors.unavailable('jobQueue', 5, err);
      }
    },
    async fail(lease, error, o = {}) {
      const h = holding(lease);
      if (!h) return 'lost';
      const [job] = await read([lease.id]);
      if (!job || job.token !== lease.token) return 'lost';
      const err = JSON.stringify({ ...error });
      if (o.retryable !== false && job.attempts < job.maxAttempts) {
        const runAt = clock.now() + backoffDelay(job.attempts, o.backoffMs);
        if (!(await fence(lease, { kerr: err, krun: runAt }))) return 'lost';
        end(lease);
        await bullMove('delay', h, () => h.job.moveToDelayed(runAt, h.lock));
        return 'retrying';
      }
      if (!(await fence(lease, { kst: 'failed', kerr: err, kdone: clock.now() }))) return 'lost';
      end(lease);
      await bullMove('fail', h, () => h.job.moveToFailed(new Error(error.message), h.lock, false));
      return 'failed';
    },
    async suspend(lease, decision) {
      const h = await fence(lease, { kst: 'waiting_for_input', kdec: JSON.stringify(decision), kdid: decision.id });
      if (!h) return false;
      end(lease);
      await bullMove('delay', h, () => h.job.moveToDelayed(decision.expiresAt ?? Date.now() + FAR_MS, h.lock));
      return true;
    },
    async answer(id, decisionId, choice) {
      const type = await call(() => cmd.hget(INDEX, id));
      if (!type) return null;
      const k = jobKey(type, id);
      const ok = await call(() => cmd.kjAnswer(k, `${k}:ksteps`, `${k}:lock`, decisionId, JSON.stringify(choice),
        clock.now()));
      if (ok !== 1) return null;
      await call(() => queue(type).getJob(id).then((j) => j?.promote())).catch((err) => {
        logger.warn({ err, jobId: id }, 'promoting an answered job failed; it runs at its question\'s timeout');
      });
      return (await read([id]))[0] ?? null;
    },
    async release(lease) {
      const h = holding(lease);
      if (!h || !(await fence(lease, { krel: h.rel + 1 }))) return false;
      end(lease);
      await bullMove('delay', h, () => h.job.moveToDelayed(Date.now(), h.lock));
      return true;
    },
    async cancel(id) {
      // Committed but not relayed yet: the row is marked, and the relay cancels the job once it is in Redis.
      const mark = async () => {
        const now = clock.now();
        return orm ? knex()(OUTBOX).where({ id, status: 'pending' })
          .update({ status: 'cancelled', cancelled_at: now, completed_at: now }) : 0;
      };
      let inRedis: boolean;
      try {
        inRedis = await cancelInRedis(id);
      } catch (err) { // Redis is down: a job still in the outbox can be cancelled there all the same
        if (await mark()) return fromOutbox(id);
        throw err;
      }
      if (inRedis) return (await read([id]))[0] ?? null;
      if ((await mark()) && await cancelInRedis(id)) return (await read([id]))[0] ?? null; // the relay was quicker
      return fromOutbox(id);
    },
    async markCancelled(lease) {
      const now = clock.now();
      const h = await fence(lease, { kst: 'cancelled', kdone: now, kcx: now });
      if (!h) return false;
      end(lease);
      await bullMove('fail', h, () => h.job.moveToFailed(new Error('cancelled'), h.lock, false));
      return true;
    },
    async cancelRequested(ids) {
      return (await read(ids)).filter((j) => j.cancelRequested && j.status === 'running').map((j) => j.id);
    },
    async get(id) {
      return (await read([id]))[0] ?? fromOutbox(id);
    },
    async list(q) {
      const ids = await call(() => cmd.zrange(q.ownerId ? key(`k:owner:${q.ownerId}`) : CREATED, 0, -1));
      const all: JobRecord[] = [];
      for (let i = 0; i < ids.length; i += 500) all.push(...await read(ids.slice(i, i + 500)));
      const hits = all.filter((j) => (!q.ownerId || j.ownerId === q.ownerId) && (!q.status || j.status === q.status)
        && (!q.type || j.type === q.type) && (!q.subject || j.subject === q.subject));
      const sort = q.sort ?? '-createdAt';
      const field = sort.replace('-', '') as 'createdAt' | 'priority';
      const dir = sort.startsWith('-') ? -1 : 1;
      hits.sort((a, b) => dir * (a[field] - b[field]) || dir * (a.id < b.id ? -1 : 1));
      return { items: hits.slice(q.offset, q.offset + q.limit), total: hits.length };
    },
    async appendLog(id, entry) {
      const e = { ...entry, message: entry.message.slice(0, 2000) };
      await call(() => cmd.rpush(key(`k:logs:${id}`), JSON.stringify(e)));
    },
    async logs(id, q) {
      const all = (await call(() => cmd.lrange(key(`k:logs:${id}`), 0, -1)))
        .map((s) => JSON.parse(s) as JobLogEntry).filter(atLeast(q.level));
      return { items: all.slice(q.offset, q.offset + q.limit), total: all.length };
    },
    async stats() {
      const ids = await call(() => cmd.zrange(CREATED, 0, -1));
      const all: JobRecord[] = [];
      for (let i = 0; i < ids.length; i += 500) all.push(...await read(ids.slice(i, i + 500)));
      return statsOf(all, clock.now());
    },
    async health() {
      await call(() => cmd.ping());
    },
    async close() {
      closed = true;
      // Prefetched jobs go back at once, their attempt not counted.
      await Promise.all([...prefetched].flatMap(([type, list]) => list.map(async ({ job, lock }) => {
        await cmd.hset(jobKey(type, job.id!), 'progress', '1', 'krel', String(Number(await cmd.hget(
          jobKey(type, job.id!), 'krel') ?? 0) + 1)).catch(() => {});
        await job.moveToDelayed(Date.now(), lock).catch(() => {});
      })));
      prefetched.clear();
      clearInterval(relayTimer);
      await relaying;
      for (const w of workers.values()) await w.close(true).catch(() => {});
      for (const q of queues.values()) await q.close().catch(() => {});
      for (const c of [cmd, bull]) await c.quit().catch(() => c.disconnect());
    },
  };
  return api;
}
