import { defineServices } from '../../kernel/index.ts';
import type { BillingExports } from '../billing/api.ts';
import { settings, type MeteringConfig } from './config.ts';
import { PlanEntitlements } from './entitlements.ts';
import { PlanLimitsService } from './limits.ts';
import { every, UsageMaintenance } from './maintenance.ts';
import { LimitNotices } from './notices.ts';
import { PlanCache } from './plans.ts';
import { UsageRecorder } from './recorder.ts';
import { UsageReports } from './reports.ts';
import { RequestMeter } from './requestMeter.ts';
import { UsageTotals } from './totals.ts';

/** The periodic work of one instance: request flushes and the rollup/retention run. */
export class MeteringSchedule {
  private stops: Array<() => void> = [];
  constructor(private readonly meter: RequestMeter, private readonly maintenance: UsageMaintenance,
    private readonly s: ReturnType<typeof settings>, private readonly logger: import('pino').Logger) {}

  start(): void {
    this.stops.push(every(this.s.requestFlushIntervalMs, 'request metering flush', () => this.meter.flush(),
      this.logger));
    this.stops.push(every(this.s.maintenanceIntervalMs, 'usage maintenance', () => this.maintenance.run(),
      this.logger));
  }

  /** At shutdown: the last request counts are written before the database closes. */
  async stop(): Promise<void> {
    for (const stop of this.stops.splice(0)) stop();
    await this.meter.flush();
  }
}

export const services = defineServices<{ config: MeteringConfig; requires: BillingExports }>()
  .singleton('meteringSettings', ({ config }) => settings(config))
  .singleton('usageTotals', ({ orm, clock, meteringSettings }) =>
    new UsageTotals(orm, clock, meteringSettings.cacheTtlMs))
  .singleton('planCache', ({ subscriptions, clock, meteringSettings }) => {
    const cache = new PlanCache(subscriptions, clock, meteringSettings.cacheTtlMs);
    // A change made on this instance is seen by its next request; other instances' through the event or the TTL.
    subscriptions.onChange?.((userId) => cache.invalidateUser(userId));
    return cache;
  })
  .singleton('limitNotices', ({ orm, publishIn }) => new LimitNotices(orm, publishIn))
  .singleton('metering', ({ clock, usageTotals, ids }) => new UsageRecorder(clock, usageTotals, ids))
  .singleton('limits', ({ planCache, usageTotals, limitNotices, clock }) =>
    new PlanLimitsService(planCache, usageTotals, limitNotices, clock))
  .singleton('entitlements', ({ planCache }) => new PlanEntitlements(planCache))
  .singleton('requestMeter', ({ orm, clock, logger }) => new RequestMeter(orm, clock, logger))
  .singleton('usageReports', ({ clock }) => new UsageReports(clock))
  .singleton('usageMaintenance', ({ orm, clock, ids, meteringSettings, logger }) =>
    new UsageMaintenance(orm, clock, ids, meteringSettings.retention, logger))
  .singleton('meteringSchedule', ({ requestMeter, usageMaintenance, meteringSettings, logger }) =>
    new MeteringSchedule(requestMeter, usageMaintenance, meteringSettings, logger));
