import type { MikroORM } from '@mikro-orm/core';
import type { Clock } from '../../kernel/index.ts';
import { knexOf, num } from './sql.ts';

/** The windows a limit check sums usage over (epoch ms, start inclusive). */
export interface Windows { dayStart: number; monthStart: number; periodStart: number }
export interface Totals { tokensToday: number; costMonthMicros: number; tokensPeriod: number }

interface Entry extends Totals { windows: Windows; expiresAt: number }

const MAX_ENTRIES = 50_000;

/**
 * Each user's usage in the current day, month and billing period, for limit checks: summed
 * from the detail rows at most every `ttlMs`, and bumped at once by this instance's own
 * `record` calls. Other instances' usage shows within `ttlMs`.
 */
export class UsageTotals {
  private readonly entries = new Map<string, Entry>();
  /** One sum at a time per user: a burst of checks on a cold entry waits for the same query. */
  private readonly loading = new Map<string, Promise<Totals>>();

  constructor(private readonly orm: MikroORM, private readonly clock: Clock, private readonly ttlMs: number) {}

  async get(userId: string, windows: Windows): Promise<Totals> {
    const hit = this.entries.get(userId);
    const now = this.clock.now();
    if (hit && hit.expiresAt > now && sameWindows(hit.windows, windows)) return hit;
    const pending = this.loading.get(userId);
    if (pending) return pending;
    const load = this.sum(userId, windows).then((totals) => {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      const entry = { ...totals, windows, expiresAt: now + this.ttlMs };
      this.entries.set(userId, entry);
      return entry;
    }).finally(() => this.loading.delete(userId));
    this.loading.set(userId, load);
    return load;
  }

  added(userId: string, atMs: number, tokens: number, costMicros: number): void {
    const hit = this.entries.get(userId);
    if (!hit) return;
    if (atMs >= hit.windows.dayStart) hit.tokensToday += tokens;
    if (atMs >= hit.windows.monthStart) hit.costMonthMicros += costMicros;
    if (atMs >= hit.windows.periodStart) hit.tokensPeriod += tokens;
  }

  invalidate(userId?: string): void {
    if (userId === undefined) this.entries.clear();
    else this.entries.delete(userId);
  }

  private async sum(userId: string, w: Windows): Promise<Totals> {
    const from = Math.min(w.dayStart, w.monthStart, w.periodStart);
    const knex = knexOf(this.orm.em);
    const [row] = await knex('metering_usage')
      .where('user_id', userId)
      .andWhere('at_ms', '>=', from)
      .select(
        knex.raw('sum(case when at_ms >= ? then tokens else 0 end) as day_tokens', [w.dayStart]),
        knex.raw('sum(case when at_ms >= ? then cost_micros else 0 end) as month_cost', [w.monthStart]),
        knex.raw('sum(case when at_ms >= ? then tokens else 0 end) as period_tokens', [w.periodStart]),
      );
    const r = (row ?? {}) as Record<string, unknown>;
    return { tokensToday: num(r.day_tokens), costMonthMicros: num(r.month_cost), tokensPeriod: num(r.period_tokens) };
  }
}

function sameWindows(a: Windows, b: Windows): boolean {
  return a.dayStart === b.dayStart && a.monthStart === b.monthStart && a.periodStart === b.periodStart;
}
