import { UniqueConstraintViolationException, type MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Clock, FinishedRequest } from '../../kernel/index.ts';
import type { RequestStatRow } from './entities.ts';
import { DAY_MS, dayOf, startOfDay } from './time.ts';

/** One principal's requests in one UTC day, since the last flush. Only counters: no allocation per request. */
export class RequestTally {
  total = 0; successful = 0; failed = 0; bytesIn = 0; bytesOut = 0; durationMs = 0;
  /** Boxed counts: one map lookup per request instead of a get and a set. */
  readonly operations = new Map<string, { n: number }>();
  readonly routes = new Map<string, { n: number }>();
  constructor(readonly principalType: string, public firstAtMs: number, public lastAtMs: number) {}

  merge(o: RequestTally): void {
    this.total += o.total; this.successful += o.successful; this.failed += o.failed;
    this.bytesIn += o.bytesIn; this.bytesOut += o.bytesOut; this.durationMs += o.durationMs;
    this.firstAtMs = Math.min(this.firstAtMs, o.firstAtMs);
    this.lastAtMs = Math.max(this.lastAtMs, o.lastAtMs);
    addInto(this.operations, o.operations);
    addInto(this.routes, o.routes);
  }
}

type DayTallies = Map<string, RequestTally>;
const MAX_ATTEMPTS = 8;

/**
 * Request metering through the kernel's request observer: counts in memory per principal and
 * day, and adds them to the database every flush interval and at shutdown. A crash loses at
 * most the requests since the last flush (one interval); a failed flush keeps its counts for
 * the next one, up to `maxPrincipals` principals held, past which the oldest counts are dropped (and logged).
 */
export class RequestMeter {
  private day = '';
  private dayEnds = -Infinity;
  private current: DayTallies = new Map();
  /** Counts taken out for a flush that has not landed yet, or that failed: day -> tallies. */
  private readonly pending = new Map<string, DayTallies>();
  private flushing: Promise<void> | undefined;
  /** The batch a flush is writing (read by `unflushed` until each tally lands). */
  private writing: Array<[string, DayTallies]> = [];

  constructor(private readonly orm: MikroORM, private readonly clock: Clock, private readonly logger: Logger,
    private readonly maxPrincipals = 100_000) {}

  /** The hot path: runs after each response is sent. */
  readonly observe = (r: FinishedRequest): void => {
    const id = r.principalId;
    if (id === null) return;
    const now = this.clock.now();
    if (now >= this.dayEnds) this.rollDay(now);
    let t = this.current.get(id);
    if (t === undefined) {
      t = new RequestTally(r.principalType ?? 'user', now, now);
      this.current.set(id, t);
    }
    t.total++;
    if (r.status < 400 && !r.aborted) t.successful++;
    else t.failed++;
    t.bytesIn += r.bytesIn;
    t.bytesOut += r.bytesOut;
    t.durationMs += r.durationMs;
    t.lastAtMs = now;
    const op = r.operationId;
    if (op !== null) {
      const c = t.operations.get(op);
      if (c === undefined) t.operations.set(op, { n: 1 });
      else c.n++;
    }
    const route = r.route;
    if (route !== null) {
      const c = t.routes.get(route);
      if (c === undefined) t.routes.set(route, { n: 1 });
      else c.n++;
    }
  };

  /** This instance's counts not yet in the database, for one principal (by day). */
  unflushed(principalId: string): Array<{ day: string; tally: RequestTally }> {
    const out: Array<{ day: string; tally: RequestTally }> = [];
    for (const [day, tallies] of [...this.writing, ...this.pending]) {
      const t = tallies.get(principalId);
      if (t) out.push({ day, tally: t });
    }
    const t = this.current.get(principalId);
    if (t) out.push({ day: this.day, tally: t });
    return out;
  }

  /**
   * Adds the counts so far to the database, one flush at a time: called while one runs, it
   * waits for it and then writes what came in meanwhile (the shutdown flush misses nothing).
   */
  flush(): Promise<void> {
    const after = this.flushing ?? Promise.resolve();
    const run = after.then(() => this.write());
    this.flushing = run;
    return run.finally(() => { if (this.flushing === run) this.flushing = undefined; });
  }

  private rollDay(now: number): void {
    this.seal();
    this.day = dayOf(now);
    this.dayEnds = startOfDay(now) + DAY_MS;
  }

  private seal(): void {
    if (!this.current.size) return;
    for (const [id, t] of this.current) this.keep(this.day, id, t);
    this.current = new Map();
    this.bound();
  }

  private async write(): Promise<void> {
    this.seal();
    // The batch is taken out whole: counts sealed while it is written go to a fresh `pending`.
    const batch = [...this.pending];
    this.pending.clear();
    this.writing = batch;
    let failed = false;
    try {
      for (const [day, tallies] of batch) {
        for (const [id, t] of [...tallies]) {
          if (!failed) {
            try {
              await this.add(id, day, t);
              tallies.delete(id);
              continue;
            } catch (err) {
              failed = true;
              this.logger.warn({ err, day }, 'request metering flush failed; the counts are kept for the next flush');
            }
          }
          this.keep(day, id, t);
          tallies.delete(id);
        }
      }
    } finally {
      this.writing = [];
      this.bound();
    }
  }

  private keep(day: string, id: string, t: RequestTally): void {
    const into = this.pending.get(day) ?? new Map<string, RequestTally>();
    const had = into.get(id);
    if (had) had.merge(t);
    else into.set(id, t);
    this.pending.set(day, into);
  }

  /** Adds one tally to its (principal, day) row: insert, or a compare-and-set on `version`, retried. */
  private async add(principalId: string, day: string, t: RequestTally): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const em = this.orm.em.fork();
      const row = await em.findOne<RequestStatRow>('MeteringRequestStat', { principalId, day });
      if (!row) {
        em.create<RequestStatRow>('MeteringRequestStat', {
          principalId, principalType: t.principalType, day, total: t.total, successful: t.successful,
          failed: t.failed, bytesIn: t.bytesIn, bytesOut: t.bytesOut, durationMicros: Math.round(t.durationMs * 1000),
          firstAtMs: t.firstAtMs, lastAtMs: t.lastAtMs, operations: plainCounts(t.operations),
          routes: plainCounts(t.routes), version: 1,
        } as RequestStatRow);
        try {
          await em.flush();
          return;
        } catch (err) {
          if (err instanceof UniqueConstraintViolationException) continue;
          throw err;
        }
      }
      const won = await em.nativeUpdate<RequestStatRow>('MeteringRequestStat', { id: row.id, version: row.version }, {
        total: Number(row.total) + t.total, successful: Number(row.successful) + t.successful,
        failed: Number(row.failed) + t.failed, bytesIn: Number(row.bytesIn) + t.bytesIn,
        bytesOut: Number(row.bytesOut) + t.bytesOut,
        durationMicros: Number(row.durationMicros) + Math.round(t.durationMs * 1000),
        firstAtMs: Math.min(Number(row.firstAtMs), t.firstAtMs), lastAtMs: Math.max(Number(row.lastAtMs), t.lastAtMs),
        operations: addCounts(row.operations, t.operations), routes: addCounts(row.routes, t.routes),
        version: row.version + 1,
      });
      if (won === 1) return;
    }
    throw new Error(`request metering: the row of ${day} stayed contended for ${MAX_ATTEMPTS} attempts`);
  }

  /** Keeps what a long outage holds in memory bounded: drops the oldest days first. */
  private bound(): void {
    let held = 0;
    for (const t of this.pending.values()) held += t.size;
    for (const [day, tallies] of [...this.pending].sort(([a], [b]) => a.localeCompare(b))) {
      if (held <= this.maxPrincipals) return;
      held -= tallies.size;
      this.pending.delete(day);
      this.logger.error(
        { day, principals: tallies.size },
        'request metering: dropped unflushed counts (too many held)',
      );
    }
  }
}

export function addInto(into: Map<string, { n: number }>, add: Map<string, { n: number }>): void {
  for (const [k, v] of add) {
    const c = into.get(k);
    if (c === undefined) into.set(k, { n: v.n });
    else c.n += v.n;
  }
}

export function plainCounts(m: Map<string, { n: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of m) out[k] = v.n;
  return out;
}

function addCounts(into: Record<string, number> | null | undefined, add: Map<string, { n: number }>):
  Record<string, number> {
  const out = { ...(into ?? {}) };
  for (const [k, v] of add) out[k] = (out[k] ?? 0) + v.n;
  return out;
}
