import type { MikroORM } from '@mikro-orm/core';
import type { Knex } from '@mikro-orm/knex';
import type { Logger } from 'pino';
import type { Clock, IdGenerator } from '../../kernel/index.ts';
import { knexOf, num } from './sql.ts';
import { DAY_MS, dayOf, startOfDay } from './time.ts';

export interface Retention { detailDays: number; rollupDays: number }
/** Days before the last rolled one that are rolled again, for events recorded with a past `occurredAt`. */
const REROLL_DAYS = 2;
const INSERT_CHUNK = 200;

/**
 * The daily rollups and the retention: rebuilds the rollups of the recent days from the
 * detail rows (idempotent: delete and insert per day in one transaction), then deletes
 * detail rows past `detailDays` (only days already rolled up) and rollups and request counts
 * past `rollupDays`. Safe to run on several instances at once.
 */
export class UsageMaintenance {
  constructor(private readonly orm: MikroORM, private readonly clock: Clock, private readonly ids: IdGenerator,
    private readonly retention: Retention, private readonly logger: Logger) {}

  async run(): Promise<{ rolledDays: number; prunedRows: number; prunedRollups: number }> {
    const knex = knexOf(this.orm.em);
    const today = startOfDay(this.clock.now());
    const days = await this.daysToRoll(knex, today);
    for (const day of days) await this.roll(knex, day);
    const detailCutoff = dayOf(today - this.retention.detailDays * DAY_MS);
    const rollupCutoff = dayOf(today - this.retention.rollupDays * DAY_MS);
    const [{ last } = { last: null }] = await knex('metering_daily').max({ last: 'day' });
    const lastRolled = typeof last === 'string' ? last : '';
    // Detail is deleted only where a rollup holds it (a day not rolled yet waits for the next run).
    const prunedRows = await knex('metering_usage').where('day', '<', detailCutoff).where('day', '<=', lastRolled)
      .del();
    const prunedRollups = await knex('metering_daily').where('day', '<', rollupCutoff).del();
    await knex('metering_request_stats').where('day', '<', rollupCutoff).del();
    await knex('metering_limit_notices').where('reached_at_ms', '<', today - this.retention.rollupDays * DAY_MS).del();
    if (days.length || prunedRows || prunedRollups) {
      this.logger.info({ rolledDays: days.length, prunedRows, prunedRollups }, 'usage rollups and retention');
    }
    return { rolledDays: days.length, prunedRows, prunedRollups };
  }

  /** From two days before the last rollup (or the oldest detail day) to today. */
  private async daysToRoll(knex: Knex, today: number): Promise<string[]> {
    const [{ last } = { last: null }] = await knex('metering_daily').max({ last: 'day' });
    const [{ first } = { first: null }] = await knex('metering_usage').min({ first: 'day' });
    if (typeof first !== 'string') return [];
    const from = typeof last === 'string'
      ? Math.max(Date.parse(`${last}T00:00:00Z`) - REROLL_DAYS * DAY_MS, Date.parse(`${first}T00:00:00Z`))
      : Date.parse(`${first}T00:00:00Z`);
    const days: string[] = [];
    for (let d = from; d <= today; d += DAY_MS) days.push(dayOf(d));
    return days;
  }

  private async roll(knex: Knex, day: string): Promise<void> {
    await knex.transaction(async (trx) => {
      const groups = await trx('metering_usage').where('day', day).groupBy('user_id', 'kind', 'subject').select(
        'user_id', 'kind', 'subject', trx.raw('count(*) as invocations'),
        trx.raw("sum(case when status = 'failed' then 1 else 0 end) as failures"),
        trx.raw('sum(tokens_in) as tokens_in'), trx.raw('sum(tokens_out) as tokens_out'),
        trx.raw('sum(tokens) as tokens'), trx.raw('sum(cost_micros) as cost_micros'),
      );
      await trx('metering_daily').where('day', day).del();
      const rows = groups.map((g: Record<string, unknown>) => ({
        id: this.ids.next(), day, user_id: g.user_id, kind: g.kind, subject: g.subject,
        invocations: num(g.invocations), failures: num(g.failures), tokens_in: num(g.tokens_in),
        tokens_out: num(g.tokens_out), tokens: num(g.tokens), cost_micros: num(g.cost_micros),
      }));
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx('metering_daily').insert(rows.slice(i, i + INSERT_CHUNK));
      }
    });
  }
}

/**
 * Runs `task` every `everyMs` without an operator, in this process (timers are unref'd, so
 * they never keep it alive). When the jobs plugin lands this becomes a scheduled job, so that
 * one instance runs it per tick instead of each.
 */
export function every(everyMs: number, what: string, task: () => Promise<unknown>, logger: Logger): () => void {
  if (everyMs <= 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task().catch((err) => logger.warn({ err }, `${what} failed`)).finally(() => { running = false; });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
