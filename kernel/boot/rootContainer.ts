/** Boot step: the root container's kernel values (config, logger, clock, ids, health, kernel info, secrets). */
import { asValue } from 'awilix';
import type { Kernel } from '../boot.ts';
import type { Clock } from '../ports/clock.ts';
import type { IdGenerator } from '../ports/ids.ts';
import { HealthService } from '../health.ts';
import { loadSecrets } from '../secrets/envelope.ts';

export function registerKernelValues(kernel: Kernel, clock: Clock, ids: IdGenerator): void {
  const { config } = kernel.options;
  kernel.root.register({
    config: asValue(config),
    logger: asValue(kernel.logger),
    clock: asValue(clock),
    ids: asValue(ids),
    health: asValue(kernel.healthService = new HealthService({
      run: () => kernel.health(), clock, config: config.health, logger: kernel.logger.child({ component: 'health' }),
      info: { name: config.name, version: kernel.options.version, startedAt: kernel.startedAt },
      contributors: kernel.healthContributors,
    })),
    kernelInfo: asValue({
      name: config.name, version: kernel.options.version, startedAt: kernel.startedAt, basePath: config.server.basePath,
    }),
    permissionCatalog: asValue(
      kernel.plan.plugins.flatMap((p) => (p.permissions ?? []).map((perm) => ({ ...perm, plugin: p.name }))),
    ),
  });
  kernel.root.register({ secrets: asValue(loadSecrets(config.secrets, kernel.logger)) });
}
