/** Boot step: one Awilix container per plugin (its ports, its services, what its dependencies export). */
import { asFunction, asValue, createContainer, InjectionMode } from 'awilix';
import { unavailableJobs } from '../jobs/unavailable.ts';
import type { EntityManager } from '@mikro-orm/core';
import type { Kernel } from '../boot.ts';
import { BootError } from '../config/problems.ts';
import type { PluginDefinition, ServiceSpec, UntypedCradle } from '../plugin.ts';
import type { Clock } from '../ports/clock.ts';
import type { IdGenerator } from '../ports/ids.ts';
import { namespacedCache, type Cache } from '../ports/cache.ts';
import type { DomainEvent, EventBus } from '../ports/eventBus.ts';
import type { PluginRuntime } from '../http/requestContext.ts';
import { stageEvent } from '../events/outbox.ts';
import { eventGuard } from '../events/declared.ts';
import { errors } from '../errors.ts';
import { splitRouteControl } from '../config/routeControl.ts';

/** A plugin sees its own services, the ports, and what the plugins it requires export. Nothing else. */
export function pluginRuntime(kernel: Kernel, plugin: PluginDefinition): PluginRuntime {
  const container = createContainer<UntypedCradle>({ injectionMode: InjectionMode.PROXY, strict: true });
  const logger = kernel.logger.child({ plugin: plugin.name });
  const root = kernel.root.cradle;
  const { enabled: _enabled, ...section } = kernel.config.plugins[plugin.name] ?? {};
  const pluginConfig = splitRouteControl(section).rest;
  const ids: IdGenerator = root.ids;
  const clock: Clock = root.clock;
  const checkEvent = eventGuard(plugin, logger);
  const makeEvent = <T>(type: string, data: T, options?: { key?: string }): DomainEvent<T> => {
    if (!type.startsWith(`${plugin.name}.`)) {
      throw new Error(`plugin ${plugin.name} may only publish events named ${plugin.name}.*, not ${type}`);
    }
    checkEvent(type, data);
    return {
      id: ids.next(), type, occurredAt: clock.date().toISOString(), data, ...(options?.key ? { key: options.key } : {}),
    };
  };
  const outbox = kernel.outbox ? { stage: stageEvent, kick: () => kernel.outbox!.kick() } : undefined;
  /** Outside a request: through the outbox in its own unit of work when there is one, else straight to the bus. */
  const publish = async <T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>> => {
    const event = makeEvent(type, data, options);
    if (outbox && kernel.orm) {
      const em = kernel.orm.em.fork();
      stageEvent(em, event);
      await em.flush();
      outbox.kick();
      return event;
    }
    const bus = kernel.root.hasRegistration('eventBus') ? (kernel.root.cradle.eventBus as EventBus) : undefined;
    if (!bus) throw errors.unavailable('eventBus');
    await bus.publish(event);
    return event;
  };
  /** Outside a request, in a unit of work of the caller's: the event is stored by the caller's next flush of `em`. */
  const publishIn = (em: EntityManager) =>
    async <T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>> => {
      if (!outbox) return publish(type, data, options);
      const event = makeEvent(type, data, options);
      stageEvent(em, event);
      setTimeout(() => outbox.kick(), 50).unref();
      return event;
    };
  const ports: Record<string, unknown> = {
    logger, config: pluginConfig, pluginName: plugin.name, clock, ids,
    health: root.health, kernelInfo: root.kernelInfo, permissionCatalog: root.permissionCatalog, publish, publishIn,
    secrets: root.secrets,
    lifecycle: kernel.inflight.lifecycle(logger, plugin.name),
  };
  if (kernel.orm) ports.orm = kernel.orm;
  ports.jobs = kernel.jobs ?? unavailableJobs(kernel.jobsUnavailable ?? 'no job queue is configured');
  ports.metrics = kernel.metrics.forPlugin(plugin.name);
  for (const { port } of kernel.adapters) {
    ports[port] = port === 'cache' ? namespacedCache(root.cache as Cache, plugin.name) : root[port];
  }
  for (const [name, value] of Object.entries(ports)) container.register(name, asValue(value));

  const problems: string[] = [];
  for (const [name, spec] of Object.entries(plugin.services ?? {})) {
    if (container.hasRegistration(name)) {
      problems.push(`plugin ${plugin.name}: service "${name}" shadows a port of the same name`);
      continue;
    }
    const s: ServiceSpec = typeof spec === 'function' ? { factory: spec } : spec;
    const resolver = asFunction(s.factory);
    container.register(
      name, s.lifetime === 'scoped' ? resolver.scoped() : resolver.singleton().disposer(s.dispose ?? (() => {})),
    );
  }
  for (const dep of plugin.requires ?? []) {
    const provider = kernel.runtimes.get(dep)!;
    const def = kernel.plan.plugins.find((p) => p.name === dep)!;
    for (const name of def.exports ?? []) {
      if (container.hasRegistration(name)) {
        problems.push(`plugin ${plugin.name}: "${name}" exported by ${dep} clashes with a name it already has`);
        continue;
      }
      container.register(name, asFunction(() => provider.container.resolve(name)).singleton());
    }
  }
  for (const name of plugin.exports ?? []) {
    if (!plugin.services?.[name]) {
      problems.push(`plugin ${plugin.name} exports "${name}", which is not one of its services`);
    }
  }
  if (problems.length) throw new BootError(problems);
  const hasScoped = Object.values(plugin.services ?? {})
    .some((s) => typeof s !== 'function' && s.lifetime === 'scoped');
  return { name: plugin.name, container, hasScoped, logger, publish, makeEvent, outbox };
}
