import type { Clock } from '../../kernel/index.ts';
import { MICROS_PER_CENT, type Plan, type PlanLimits } from '../billing/api.ts';
import type { LimitDecision, LimitName, Limits } from './api.ts';
import type { LimitNotices } from './notices.ts';
import type { PlanCache, Standing } from './plans.ts';
import { DAY_MS, dayOf, startOfDay, startOfMonth, startOfNextMonth } from './time.ts';
import type { Totals, UsageTotals, Windows } from './totals.ts';

const WARN_AT = 0.8;

interface Measure { limit: LimitName; max: number; used: number; ask: number; resetAt: number;
  /** The window's start, named in the notice key (made only on a deny: strings cost on the hot path). */
  periodStart: number; unit: string;
  /** `max`, `used` and `ask` are in units of 1/scale of what is shown (microcents for cents). */
  scale: number }

/**
 * `limits.check`: the plan's daily tokens, monthly cost and per-period tokens against what is
 * used plus what the caller asks for. Deny when the ask would pass a limit (or it is already
 * reached), warn from 80%. A plan with `gracePeriodHours` lets an exceeded limit through
 * (`grace: true`) for that long after it was first reached in the period.
 */
export class PlanLimitsService implements Limits {
  constructor(private readonly plans: PlanCache, private readonly totals: UsageTotals,
    private readonly notices: LimitNotices, private readonly clock: Clock) {}

  async check(userId: string, ask: { tokens?: number; costMicros?: number }): Promise<LimitDecision> {
    const standing = await this.plans.standing(userId);
    const limits = standing.plan.limits;
    if (limits.tokensPerDay === undefined && limits.costCentsPerMonth === undefined &&
      limits.tokensPerPeriod === undefined) return { outcome: 'ok' };
    const now = this.clock.now();
    const windows = windowsFor(standing, now);
    const used = await this.totals.get(userId, windows);
    const measures = measuresOf(limits, used, windows, standing, now, ask);
    const over = measures.find((m) => m.used >= m.max || m.used + m.ask > m.max);
    if (over) return this.deny(userId, standing.plan, over, now);
    const near = measures.find((m) => m.used + m.ask >= WARN_AT * m.max);
    if (!near) return { outcome: 'ok' };
    const pct = Math.min(99, Math.floor(((near.used + near.ask) / near.max) * 100));
    const message = `${pct}% of your ${near.limit} limit (${near.max / near.scale} ${near.unit}) is used; ` +
      `it resets at ${iso(near.resetAt)}`;
    return { outcome: 'warn', message, limit: near.limit };
  }

  private async deny(userId: string, plan: Plan, m: Measure, now: number): Promise<LimitDecision> {
    const lifts = (await this.plans.plans())
      .filter((p) => p.id !== plan.id && liftsLimit(p.limits, m))
      .map((p) => p.id);
    const decision = {
      outcome: 'deny' as const, code: 'USAGE_LIMIT_EXCEEDED' as const, limit: m.limit, resetAt: iso(m.resetAt),
      plans: lifts, max: m.max / m.scale, used: Math.round(m.used / m.scale),
    };
    // Only a limit actually used up is "reached" (notified once, grace clock started); an ask that would
    // pass it is refused without a notice, or on a grace plan let through as if grace began now.
    const reachedAt = m.used >= m.max
      ? await this.notices.reached(userId, { limit: m.limit, period: periodKey(m), resetAt: iso(m.resetAt),
        max: m.max / m.scale }, now)
      : now;
    const graceEnds = reachedAt + plan.gracePeriodHours * 3_600_000;
    if (plan.gracePeriodHours > 0 && now < graceEnds) return { ...decision, grace: true, graceEndsAt: iso(graceEnds) };
    return decision;
  }
}

/** The day and calendar month (UTC), and the subscription's period (the calendar month without one). */
export function windowsFor(standing: Standing, now: number): Windows {
  const s = standing.subscription;
  const start = s ? Date.parse(s.currentPeriodStart) : NaN;
  const end = s ? Date.parse(s.currentPeriodEnd) : NaN;
  const inPeriod = Number.isFinite(start) && Number.isFinite(end) && start <= now && now < end;
  const { dayStart, monthStart } = calendar(now);
  return { dayStart, monthStart, periodStart: inPeriod ? start : monthStart };
}

let lastDay = { dayStart: NaN, monthStart: NaN, nextMonth: NaN };
/** The UTC day's and month's bounds, worked out once per day (Date objects are not free per request). */
function calendar(now: number): { dayStart: number; monthStart: number; nextMonth: number } {
  const dayStart = startOfDay(now);
  if (lastDay.dayStart !== dayStart) {
    lastDay = { dayStart, monthStart: startOfMonth(now), nextMonth: startOfNextMonth(now) };
  }
  return lastDay;
}

function periodKey(m: Measure): string {
  if (m.limit === 'tokensPerDay') return dayOf(m.periodStart);
  if (m.limit === 'costCentsPerMonth') return dayOf(m.periodStart).slice(0, 7);
  return new Date(m.periodStart).toISOString();
}

function measuresOf(limits: PlanLimits, used: Totals, w: Windows, standing: Standing, now: number,
  ask: { tokens?: number; costMicros?: number }): Measure[] {
  const tokens = Math.max(0, ask.tokens ?? 0);
  const cost = Math.max(0, ask.costMicros ?? 0);
  const out: Measure[] = [];
  if (limits.tokensPerDay !== undefined) {
    out.push({ limit: 'tokensPerDay', max: limits.tokensPerDay, used: used.tokensToday, ask: tokens,
      resetAt: w.dayStart + DAY_MS, periodStart: w.dayStart, unit: 'tokens', scale: 1 });
  }
  if (limits.costCentsPerMonth !== undefined) {
    // Compared in microcents; shown in cents.
    out.push({ limit: 'costCentsPerMonth', max: limits.costCentsPerMonth * MICROS_PER_CENT,
      used: used.costMonthMicros, ask: cost, resetAt: calendar(now).nextMonth, periodStart: w.monthStart,
      unit: 'cents', scale: MICROS_PER_CENT });
  }
  if (limits.tokensPerPeriod !== undefined) {
    const s = standing.subscription;
    const periodEnd = s && w.periodStart === Date.parse(s.currentPeriodStart) ? Date.parse(s.currentPeriodEnd)
      : calendar(now).nextMonth;
    out.push({ limit: 'tokensPerPeriod', max: limits.tokensPerPeriod, used: used.tokensPeriod, ask: tokens,
      resetAt: periodEnd, periodStart: w.periodStart, unit: 'tokens', scale: 1 });
  }
  return out;
}

/** A plan lifts the limit when it has none of that kind, or a higher one that the ask fits under. */
function liftsLimit(limits: PlanLimits, m: Measure): boolean {
  const other = limits[m.limit];
  return other === undefined || other * m.scale > m.used + m.ask;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
