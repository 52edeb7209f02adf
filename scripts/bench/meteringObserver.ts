/**
 * The cost of metering's request observer on the hot path (issue 10: "well under a
 * microsecond"): ns per `RequestMeter.observe` call on realistic requests (500 principals,
 * 12 operations and routes), against a baseline observer that reads the same fields, in
 * interleaved rounds of the same run. Runs in this process: it is a function call, not HTTP.
 * Alone: `node --import tsx scripts/bench/meteringObserver.ts`.
 */
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/core';
import type { FinishedRequest } from '../../kernel/index.ts';
import { systemClock } from '../../kernel/ports/clock.ts';
import { RequestMeter } from '../../plugins/metering/requestMeter.ts';
import { PlanLimitsService } from '../../plugins/metering/limits.ts';
import { PlanCache } from '../../plugins/metering/plans.ts';
import { UsageTotals } from '../../plugins/metering/totals.ts';
import type { LimitNotices } from '../../plugins/metering/notices.ts';
import type { Plan, Subscriptions } from '../../plugins/billing/api.ts';

const TARGET_NS = 1000;

function requests(n: number): FinishedRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    requestId: `r${i}`, method: 'GET', operationId: `plugin.op${i % 12}`, route: `/v1/things/{id}/r${i % 12}`,
    principalId: `0190c0de-0000-7000-8000-${String(i % 500).padStart(12, '0')}`, principalType: 'user',
    status: i % 17 === 0 ? 404 : 200, bytesIn: 120, bytesOut: 900 + (i % 50), durationMs: 1.5, aborted: false,
  }));
}

function timeCalls(observe: (r: FinishedRequest) => void, batch: FinishedRequest[], calls: number): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) observe(batch[i % batch.length]);
  return Number(process.hrtime.bigint() - started) / calls;
}

/** Median and a 95% interval (2.5th-97.5th percentile of rounds). */
function spread(values: number[]): { median: number; low: number; high: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
  return { median: at(0.5), low: at(0.025), high: at(0.975) };
}

export async function meteringObserverRows(quick = false): Promise<string[]> {
  const meter = new RequestMeter({} as MikroORM, systemClock, pino({ level: 'silent' }));
  const batch = requests(4096);
  let sink = 0;
  const baseline = (r: FinishedRequest) => {
    sink += r.status + r.bytesIn + r.bytesOut + r.durationMs + (r.principalId ? 1 : 0) + (r.operationId ? 1 : 0);
  };
  const rounds = quick ? 5 : 30;
  const calls = quick ? 50_000 : 400_000;
  timeCalls(meter.observe, batch, calls);
  timeCalls(baseline, batch, calls);
  const meterNs: number[] = [];
  const extraNs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0;
    const a = order ? timeCalls(meter.observe, batch, calls) : 0;
    const b = timeCalls(baseline, batch, calls);
    const m = order ? a : timeCalls(meter.observe, batch, calls);
    meterNs.push(m);
    extraNs.push(m - b);
  }
  const total = spread(meterNs);
  const extra = spread(extraNs);
  const verdict = total.high < TARGET_NS ? 'PASS' : 'FAIL';
  const rows = [
    `  metering request observer: ${total.median.toFixed(0)} ns/request (95% ${total.low.toFixed(0)}-` +
      `${total.high.toFixed(0)}), ${extra.median.toFixed(0)} ns over a field-reading baseline ` +
      `(95% ${extra.low.toFixed(0)}-${extra.high.toFixed(0)}); target < ${TARGET_NS} ns: ${verdict}` +
      `${quick ? ' (quick mode)' : ''}${sink < 0 ? '' : ''}`,
  ];
  return [...rows, await limitCheckRow(quick)];
}

/** A warm `limits.check` (plan and usage cached): what a paying plugin adds to each request. */
export async function limitCheckRow(quick = false): Promise<string> {
  const plan: Plan = { id: 'free', name: 'free', description: '', priceCents: 0, interval: 'month', features: [],
    limits: { tokensPerDay: 10_000, costCentsPerMonth: 100 }, monthlyFreeCreditsCents: 0, gracePeriodHours: 0,
    visibility: 'public', status: 'active' };
  const subscriptions = { current: async () => ({ subscription: null, plan }), plans: async () => [plan] };
  // Only the cold path touches the database; a stand-in answers the one sum per user.
  const sums = { where() { return this; }, andWhere() { return this; },
    select: async () => [{ day_tokens: 100, month_cost: 0, period_tokens: 100 }] };
  const knex = Object.assign(() => sums, { raw: () => ({}) });
  const orm = { em: { getKnex: () => knex } } as unknown as MikroORM;
  const limits = new PlanLimitsService(new PlanCache(subscriptions as unknown as Subscriptions, systemClock, 60_000),
    new UsageTotals(orm, systemClock, 60_000), {} as LimitNotices, systemClock);
  const users = Array.from({ length: 500 }, (_, i) => `user-${i}`);
  for (const u of users) await limits.check(u, { tokens: 10 });
  const rounds = quick ? 5 : 20;
  const calls = quick ? 20_000 : 200_000;
  const perRound: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await limits.check(users[i % users.length], { tokens: 10 });
    perRound.push(Number(process.hrtime.bigint() - started) / calls);
  }
  const t = spread(perRound);
  return `  metering limits.check, warm cache: ${t.median.toFixed(0)} ns/call (95% ${t.low.toFixed(0)}-` +
    `${t.high.toFixed(0)}), no I/O${quick ? ' (quick mode)' : ''}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await meteringObserverRows(process.argv.includes('--quick'))) console.log(line);
}
