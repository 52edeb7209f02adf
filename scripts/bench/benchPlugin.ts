/**
 * Bench-only plugin: one contract-validated POST (scripts/bench/bench.yaml) whose
 * handler stores the item in memory. Registered only in the bench's own catalogs.
 */
import { definePlugin } from '../../kernel/index.ts';
import type { Clock, IdGenerator, HandlerRequest, RequestContext } from '../../kernel/index.ts';
import { ItemStore, type BenchItemInput } from './shared.ts';

export default definePlugin({
  name: 'bench',
  version: '1.0.0',
  description: 'Benchmark only: stores posted items in memory.',
  contract: 'bench.yaml',
  config: { type: 'object', additionalProperties: false, properties: {} },
  services: {
    items: ({ ids, clock }: { ids: IdGenerator; clock: Clock }) =>
      new ItemStore(
        () => ids.next(),
        () => clock.date(),
      ),
  },
  handlers: {
    'bench.createItem': (
      { body }: HandlerRequest<BenchItemInput>,
      { services }: RequestContext<{ items: ItemStore }>,
    ) => services.items.create(body),
  },
});
