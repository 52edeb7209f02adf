import { startTestKernel, type TestKit } from '../kit/index.ts';
import metering from '../../plugins/metering/index.ts';
import type { MeteringExports } from '../../plugins/metering/api.ts';
import type { Clock } from '../../kernel/ports/clock.ts';
import type { PluginDefinition } from '../../kernel/index.ts';
import { MemorySubscriptions, stubBilling } from './stubBilling.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { serviceUrl } from '../helpers/services.ts';
import { tempSqliteUrl } from '../helpers/kernel.ts';

export interface MeteringKit extends TestKit {
  subs: MemorySubscriptions;
  cradle: MeteringExports & Record<string, any>;
}

/** The default deployment plus the stub billing and metering, with the periodic work off (tests run it). */
export async function startMetering(o: { config?: Record<string, unknown>; clock?: Clock;
  database?: Record<string, unknown>; plugins?: PluginDefinition[]; contracts?: Record<string, unknown> } = {},
): Promise<MeteringKit> {
  const subs = new MemorySubscriptions();
  const k = await startTestKernel({
    plugins: [stubBilling(subs), metering, ...(o.plugins ?? [])],
    contracts: o.contracts,
    clock: o.clock,
    config: {
      plugins: { metering: { requestFlushIntervalMs: 0, maintenanceIntervalMs: 0, ...o.config } },
      ...(o.database ? { database: o.database } : {}),
    },
  });
  const cradle = k.kernel.runtimes.get('metering')!.container.cradle as unknown as MeteringKit['cradle'];
  return Object.assign(k, { subs, cradle });
}

/** SQLite always; PostgreSQL too when DATABASE_URL is set (a fresh database per suite). */
export function meteringDatabases(what: string): Array<{ name: string; make: () => Promise<TestDatabase> }> {
  const pgUrl = serviceUrl('DATABASE_URL', `${what} on postgresql`);
  return [
    { name: 'sqlite', make: async () => ({ driver: 'sqlite', url: tempSqliteUrl(), drop: async () => {} }) },
    ...(pgUrl ? [{ name: 'postgresql', make: () => freshPostgres(pgUrl) }] : []),
  ];
}
