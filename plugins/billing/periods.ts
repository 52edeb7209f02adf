/** Calendar arithmetic in UTC: billing periods and the free-credit month. */

/** `2026-01` for any instant of January 2026 (UTC): the month free credits belong to. */
export function monthKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The first instant of the month after the one holding `ms`: when this month's free credits reset. */
export function nextMonthStart(ms: number): Date {
  const d = new Date(ms);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
}

/**
 * `from` plus one interval, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29), keeping the
 * anchor day: the n-th period end is computed from the first start, so it never drifts.
 */
export function addInterval(anchor: Date, interval: 'month' | 'year', count: number): Date {
  const months = interval === 'year' ? 12 * count : count;
  const y = anchor.getUTCFullYear();
  const m = anchor.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const day = Math.min(anchor.getUTCDate(), lastDay);
  return new Date(Date.UTC(y, m, day, anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(),
    anchor.getUTCMilliseconds()));
}

/** The period (start, end) of a series anchored at `anchor` that holds `now` (now >= anchor). */
export function periodHolding(anchor: Date, interval: 'month' | 'year', now: number): { start: Date; end: Date } {
  const months = interval === 'year' ? 12 : 1;
  const a = new Date(anchor.getTime());
  const approx = (new Date(now).getUTCFullYear() - a.getUTCFullYear()) * 12
    + new Date(now).getUTCMonth() - a.getUTCMonth();
  let n = Math.max(0, Math.floor(approx / months) - 1);
  while (addInterval(a, interval, n + 1).getTime() <= now) n++;
  return { start: addInterval(a, interval, n), end: addInterval(a, interval, n + 1) };
}
