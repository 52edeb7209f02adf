import type { EntityManager } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/knex';
import { errors, paginate, type Clock, type PageRequest } from '../../kernel/index.ts';
import { MICROS_PER_CENT } from '../billing/api.ts';
import type { UsageRow } from './entities.ts';
import { knexOf, num } from './sql.ts';
import { DAY_MS, dayOf, dayStart, startOfDay } from './time.ts';

export interface UsageQuery { from?: string; to?: string; subject?: string; kind?: string }
interface Range { fromDay: string; toDay: string }
export interface Sums { tokens: number; tokensIn: number; tokensOut: number; invocations: number; failures: number;
  costMicros: number; costCents: number }

/**
 * Usage reports: the detail rows while they are kept (90 days, exact and current), the daily
 * rollups for the days retention has deleted from the detail. Each breakdown is one grouped
 * query over the union of both.
 */
export class UsageReports {
  constructor(private readonly clock: Clock) {}

  async list(em: EntityManager, userId: string, q: UsageQuery, paging: PageRequest) {
    const where: Record<string, unknown> = { userId };
    const at: Record<string, number> = {};
    if (q.from !== undefined) at.$gte = instant(q.from, 'from');
    if (q.to !== undefined) at.$lt = instant(q.to, 'to', true);
    if (Object.keys(at).length) where.atMs = at;
    if (q.subject !== undefined) where.subject = q.subject;
    if (q.kind !== undefined) where.kind = q.kind;
    return paginate<UsageRow, ReturnType<typeof usageView>>(em, 'MeteringUsage', {
      request: paging, where, map: usageView,
    });
  }

  /** Platform-wide: the summary of every user, and the `top` users by tokens. */
  async platform(em: EntityManager, q: UsageQuery, top: number) {
    const range = this.range(q);
    const knex = knexOf(em);
    const source = this.union(knex, null, range, q, await detailFrom(knex));
    const users = await knex.from(source).select('user_id', ...sumColumns(knex)).groupBy('user_id')
      .orderBy([{ column: 'tokens', order: 'desc' }, { column: 'user_id', order: 'asc' }]).limit(top);
    const topUsers = users.map((r: Record<string, unknown>) => ({ userId: String(r.user_id), ...sumsOf(r) }));
    return { ...(await this.summary(em, null, q)), topUsers };
  }

  async summary(em: EntityManager, userId: string | null, q: UsageQuery) {
    const range = this.range(q);
    const knex = knexOf(em);
    const source = this.union(knex, userId, range, q, await detailFrom(knex));
    const sums = sumColumns(knex);
    const [totals] = await knex.from(source).select(...sums);
    const bySubject = await knex.from(source).select('subject', 'kind', ...sums).groupBy('subject', 'kind')
      .orderBy('tokens', 'desc');
    const byDay = await knex.from(source).select('day', ...sums).groupBy('day').orderBy('day', 'asc');
    return {
      from: range.fromDay, to: range.toDay,
      totals: sumsOf(totals),
      bySubject: bySubject.map((r: Record<string, unknown>) => ({
        subject: String(r.subject), kind: String(r.kind), ...sumsOf(r),
      })),
      byDay: byDay.map((r: Record<string, unknown>) => ({ day: String(r.day), ...sumsOf(r) })),
    };
  }

  /** Days as asked, defaulting to the last 30 (today included); a reversed or unreadable range is a 400. */
  private range(q: UsageQuery): Range {
    const today = startOfDay(this.clock.now());
    const toMs = q.to === undefined ? today : startOfDay(instant(q.to, 'to'));
    const fromMs = q.from === undefined ? toMs - 29 * DAY_MS : startOfDay(instant(q.from, 'from'));
    if (fromMs > toMs) {
      throw errors.validation([{ field: 'query.from', message: 'must not be after to', code: 'range' }]);
    }
    return { fromDay: dayOf(fromMs), toDay: dayOf(toMs) };
  }

  /** `cutoff`: the oldest day the detail still holds; retention deletes whole days, so older ones are rollups. */
  private union(knex: Knex, userId: string | null, r: Range, q: UsageQuery, cutoff: string): Knex.QueryBuilder {
    const filter = (b: Knex.QueryBuilder) => {
      if (userId !== null) b.where('user_id', userId);
      if (q.subject !== undefined) b.where('subject', q.subject);
      if (q.kind !== undefined) b.where('kind', q.kind);
      return b;
    };
    const detail = filter(knex('metering_usage').select(
      'day', 'user_id', 'subject', 'kind', 'tokens', 'tokens_in', 'tokens_out', 'cost_micros',
      knex.raw('1 as invocations'), knex.raw("case when status = 'failed' then 1 else 0 end as failures"),
    ).where('day', '>=', r.fromDay > cutoff ? r.fromDay : cutoff).where('day', '<=', r.toDay));
    const rolled = filter(knex('metering_daily').select(
      'day', 'user_id', 'subject', 'kind', 'tokens', 'tokens_in', 'tokens_out', 'cost_micros', 'invocations',
      'failures',
    ).where('day', '>=', r.fromDay).where('day', '<', cutoff).where('day', '<=', r.toDay));
    // Bare selects joined by hand: SQLite refuses the parenthesised members knex writes for a union.
    const d = detail.toSQL();
    const r2 = rolled.toSQL();
    return knex.raw(`(${d.sql} union all ${r2.sql}) as u`, [...d.bindings, ...r2.bindings]) as unknown as
      Knex.QueryBuilder;
  }
}

/** The oldest day with detail rows (days before it live only in the rollups); far future when there is none. */
async function detailFrom(knex: Knex): Promise<string> {
  const [{ first } = { first: null }] = await knex('metering_usage').min({ first: 'day' });
  return typeof first === 'string' ? first : '9999-12-31';
}

function sumColumns(knex: Knex) {
  return [
    knex.raw('coalesce(sum(tokens), 0) as tokens'), knex.raw('coalesce(sum(tokens_in), 0) as tokens_in'),
    knex.raw('coalesce(sum(tokens_out), 0) as tokens_out'), knex.raw('coalesce(sum(invocations), 0) as invocations'),
    knex.raw('coalesce(sum(failures), 0) as failures'), knex.raw('coalesce(sum(cost_micros), 0) as cost_micros'),
  ];
}

function sumsOf(r: Record<string, unknown> | undefined): Sums {
  const costMicros = num(r?.cost_micros);
  return {
    tokens: num(r?.tokens), tokensIn: num(r?.tokens_in), tokensOut: num(r?.tokens_out),
    invocations: num(r?.invocations), failures: num(r?.failures), costMicros,
    // Shown rounded to whole cents; the exact amount is costMicros.
    costCents: Math.round(costMicros / MICROS_PER_CENT),
  };
}

export function usageView(r: UsageRow) {
  return {
    id: r.id, userId: r.userId, kind: r.kind, subject: r.subject, tokensIn: r.tokensIn, tokensOut: r.tokensOut,
    tokens: r.tokens, costMicros: Number(r.costMicros), reference: r.reference ?? null,
    status: r.status === 'failed' ? 'failed' as const : 'ok' as const,
    occurredAt: new Date(Number(r.atMs)).toISOString(),
  };
}

/** A query's date or date-time as epoch ms; a bare date `to` means the end of that day. */
function instant(v: string, field: string, endOfDay = false): number {
  const day = dayStart(v);
  if (Number.isFinite(day)) return endOfDay ? day + DAY_MS : day;
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) {
    throw errors.validation([{ field: `query.${field}`, message: 'must be a date or a date-time', code: 'format' }]);
  }
  return ms;
}
