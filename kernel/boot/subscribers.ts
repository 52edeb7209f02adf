/** Event consumers: each plugin subscriber in its own group, tracked for the drain, idempotent when declared so. */
import type { Kernel } from '../boot.ts';
import type { SubscriberContext } from '../plugin.ts';
import type { Clock } from '../ports/clock.ts';
import type { EventBus } from '../ports/eventBus.ts';
import { handleOnce } from '../events/receipts.ts';
import { takeStagedRows } from '../events/unitOfWork.ts';
import { errors } from '../errors.ts';
import { FastReadPath } from '../storage/fastReads.ts';

export async function startSubscribers(kernel: Kernel) {
  const subs = kernel.plan.plugins.flatMap((p) => (p.subscribers ?? []).map((s) => ({ plugin: p, sub: s })));
  if (!subs.length) return;
  const bus = kernel.root.cradle.eventBus as EventBus;
  const reads = kernel.orm ? FastReadPath.for(kernel.orm).bind() : undefined;
  for (const { plugin, sub } of subs) {
    const runtime = kernel.runtimes.get(plugin.name)!;
    const group = `${plugin.name}.${sub.name}`;
    const log = runtime.logger.child({ subscriber: sub.name });
    const clock = kernel.root.cradle.clock as Clock;
    const subscription = await bus.subscribe(sub.event, { group, concurrency: sub.concurrency }, async (event) => {
      const em = kernel.orm?.em.fork();
      // Its receipt is staged as data, written by the handler's insert path with its rows (one statement on pg).
      if (em && sub.idempotent) takeStagedRows(em);
      const ctx: SubscriberContext = {
        log,
        get em() { if (!em) throw errors.unavailable('database'); return em; },
        get services() { return runtime.container.cradle; },
      };
      const run = sub.idempotent && em
        ? handleOnce(em, group, event, () => sub.handle(event, ctx), () => clock.date(), reads).then(() => {})
        : sub.handle(event, ctx);
      await kernel.inflight.track('event handlers', run);
    });
    kernel.subscriptions.push(subscription);
  }
}

export async function unsubscribeAll(kernel: Kernel) {
  for (const s of kernel.subscriptions.splice(0).reverse()) {
    await s.unsubscribe().catch((err) => kernel.logger.warn({ err }, 'unsubscribe failed'));
  }
}
