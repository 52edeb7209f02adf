import { defineAdapter, type AdapterDefinition } from '../../kernel/ports/adapter.ts';
import type { Cache } from '../../kernel/ports/cache.ts';

/**
 * A cache adapter that hands every kernel the same instance: two kernels in one process share one
 * cache, as on Redis.
 */
export function sharedCacheAdapter(cache: Cache): Record<string, Record<string, AdapterDefinition>> {
  return { cache: { shared: defineAdapter<Cache, Record<string, never>>({
    port: 'cache', name: 'shared', local: true, description: 'one cache instance for every kernel (tests)',
    optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
    create: () => cache,
  }) } };
}
