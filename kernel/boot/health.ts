/** The readiness checks: the database's and every adapter's own check, each bounded to 2 s. */
import type { Kernel } from '../boot.ts';
import { checkOrm } from '../storage/orm.ts';
import type { HealthResult } from '../health.ts';

export async function runHealthChecks(kernel: Kernel): Promise<HealthResult[]> {
  const checks: Array<{ name: string; run: () => Promise<void> }> = [];
  if (kernel.orm) checks.push({ name: 'database', run: () => checkOrm(kernel.orm!) });
  const names = kernel.config.health?.checkNames ?? {};
  for (const a of kernel.adapters) {
    if (a.instance.health) checks.push({ name: names[a.port] ?? a.port, run: () => a.instance.health!() });
  }
  const degradedOf = new Map<string, () => string[]>();
  for (const a of kernel.adapters) {
    const instance = a.instance;
    if (!instance.degraded) continue;
    const name = names[a.port] ?? a.port;
    degradedOf.set(name, () => instance.degraded!());
    if (!instance.health) checks.push({ name, run: async () => {} });
  }
  return Promise.all(checks.map(async ({ name, run }) => {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out after 2000 ms')), 2000);
      });
      await Promise.race([run(), timeout]);
      const degraded = degradedOf.get(name)?.() ?? [];
      return { name, ok: true, ms: Math.round(performance.now() - started), ...(degraded.length ? { degraded } : {}) };
    } catch (e) {
      return { name, ok: false, ms: Math.round(performance.now() - started), error: (e as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }));
}
