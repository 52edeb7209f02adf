/**
 * Recurring jobs: each instance enqueues the current slot of every schedule with the dedup key
 * `schedule:<plugin>.<name>:<slot>`, so a slot runs once however many instances tick.
 */
import type { Logger } from 'pino';
import type { Clock } from '../ports/clock.ts';
import type { ScheduleDefinition } from './types.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function everyMs(every: number | string): number {
  if (typeof every === 'number') return every;
  const m = /^(\d+)\s*(ms|s|m|h|d)$/.exec(every.trim());
  if (!m) throw new Error(`schedule every "${every}": use a number of ms or 30s, 5m, 1h, 1d`);
  return Number(m[1]) * UNITS[m[2]];
}

const RANGES: Array<[number, number]> = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 6]];

/** One cron field as the set of values it allows. */
function field(text: string, [lo, hi]: [number, number]): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    const [a, b] = range === '*' ? [lo, hi] : range.includes('-')
      ? range.split('-').map(Number) : [Number(range), stepText === undefined ? Number(range) : hi];
    if (![a, b, step].every(Number.isInteger) || a < lo || b > hi || a > b || step < 1) {
      throw new Error(`cron field "${text}" is not valid (${lo}-${hi})`);
    }
    for (let v = a; v <= b; v += step) out.add(v);
  }
  return out;
}

/** A five-field UTC cron expression as a minute matcher. */
export function parseCron(expr: string): (at: Date) => boolean {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron "${expr}": five fields (minute hour day month weekday)`);
  const [min, hour, dom, mon, dow] = parts.map((p, i) => field(p, RANGES[i]));
  return (at) => min.has(at.getUTCMinutes()) && hour.has(at.getUTCHours()) && dom.has(at.getUTCDate())
    && mon.has(at.getUTCMonth() + 1) && dow.has(at.getUTCDay());
}

export interface PluginSchedule { plugin: string; schedule: ScheduleDefinition }

/** The slot of `now` for a schedule, or null when a cron does not match this minute. */
export function slotOf(s: ScheduleDefinition, now: number): number | null {
  if (s.every !== undefined) {
    const ms = everyMs(s.every);
    return Math.floor(now / ms) * ms;
  }
  const minute = Math.floor(now / 60_000) * 60_000;
  return parseCron(s.cron!)(new Date(minute)) ? minute : null;
}

export class Scheduler {
  private timer?: NodeJS.Timeout;
  private last = new Map<string, number>();

  constructor(
    private schedules: PluginSchedule[],
    private enqueue: (type: string, parameters: unknown, dedupKey: string) => Promise<unknown>,
    private clock: Clock,
    private logger: Logger,
  ) {
    for (const { schedule: s } of schedules) {
      if ((s.every === undefined) === (s.cron === undefined)) {
        throw new Error(`schedule ${s.name}: give exactly one of every or cron`);
      }
      if (s.every !== undefined) everyMs(s.every);
      else parseCron(s.cron!);
    }
  }

  /** How often to look: half the shortest period, between 250 ms and 15 s. */
  private get tickMs(): number {
    const periods = this.schedules.map(({ schedule: s }) => (s.every !== undefined ? everyMs(s.every) : 60_000));
    return Math.min(15_000, Math.max(250, Math.floor(Math.min(...periods) / 2)));
  }

  start(): void {
    if (!this.schedules.length) return;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    void this.tick();
  }

  async tick(): Promise<void> {
    const now = this.clock.now();
    for (const { plugin, schedule } of this.schedules) {
      const key = `${plugin}.${schedule.name}`;
      const slot = slotOf(schedule, now);
      if (slot === null || this.last.get(key) === slot) continue;
      try {
        await this.enqueue(schedule.job, schedule.parameters ?? {}, `schedule:${key}:${new Date(slot).toISOString()}`);
        this.last.set(key, slot);
      } catch (err) {
        this.logger.warn({ err, schedule: key }, 'enqueueing a scheduled job failed');
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
