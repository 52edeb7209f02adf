/** Boot step: one adapter per configured port, wrapped (timeout, 503, spans, metrics) and registered in the root. */
import { asValue } from 'awilix';
import type { Kernel } from '../boot.ts';
import type { Clock } from '../ports/clock.ts';
import type { AdapterLifecycle } from '../ports/adapter.ts';
import { decorateAdapter, timeoutWrapper, unavailableWrapper, type CallWrapper } from '../ports/decorate.ts';

/** Calls that may legitimately outlast a request timeout (joining a consumer group; egress has its own timeouts). */
const NO_TIMEOUT: Record<string, string[]> = { eventBus: ['subscribe'], egress: ['request', 'stream'] };
const DEFAULT_TIMEOUT_MS = 5000;
/** Synchronous lookups, not calls: wrapping them would turn their results into promises. */
const NOT_CALLS: Record<string, string[]> = {
  aiProvider: ['names', 'get', 'has', 'moderator', 'available', 'circuits'],
};

export async function startAdapters(kernel: Kernel, clock: Clock) {
  const { config, catalogs } = kernel.options;
  for (const [port, section] of Object.entries(config.adapters)) {
    const { use, timeoutMs, ...options } = section;
    const def = catalogs.adapters[port][use];
    const context = {
      logger: kernel.logger.child({ adapter: `${port}.${use}` }), clock, serviceName: config.name,
      port: <T>(name: string) => kernel.root.resolve<T>(name),
    };
    const instance = (await def.create(options, context)) as object & AdapterLifecycle;
    kernel.adapters.push({ port, adapter: use, instance });
    // In-process adapters cannot hang or lose a connection: they skip the timeout and 503 wrappers.
    const timed = def.local
      ? instance
      : decorateAdapter(
        instance, { port, adapter: use }, [timeoutWrapper(Number(timeoutMs ?? DEFAULT_TIMEOUT_MS))],
        [...(NO_TIMEOUT[port] ?? []), ...(NOT_CALLS[port] ?? [])],
      );
    const wrappers: CallWrapper[] = [];
    if (kernel.telemetry) wrappers.push(kernel.telemetry.adapterSpan);
    if (kernel.metrics.adapterCalls) wrappers.push(kernel.metrics.adapterCalls);
    if (!def.local) wrappers.push(unavailableWrapper);
    kernel.root.register(port, asValue(decorateAdapter(timed, { port, adapter: use }, wrappers, NOT_CALLS[port])));
  }
}
