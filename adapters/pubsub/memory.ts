import { defineAdapter, type AdapterContext, type AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import { checkChannel, matchesPattern, type PubSub, type PubSubHandler } from '../../kernel/ports/pubsub.ts';

interface Entry { pattern: string; handler: PubSubHandler }

/** In-process fan-out: one instance only. Delivery is on a later turn, in publish order. */
function createMemoryPubSub(ctx: AdapterContext): PubSub & AdapterLifecycle {
  let entries: Entry[] = [];
  let closed = false;
  const queue: Array<{ channel: string; message: string; to: Entry[] }> = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    for (const item of queue.splice(0)) {
      for (const entry of item.to) {
        if (!entries.includes(entry)) continue; // unsubscribed meanwhile
        try {
          entry.handler(item.message, item.channel);
        } catch (err) {
          ctx.logger.error({ err, channel: item.channel }, 'pubsub handler threw');
        }
      }
    }
  };

  return {
    async publish(channel, message) {
      checkChannel(channel);
      if (closed) throw new Error('pubsub is closed');
      const to = entries.filter((e) => matchesPattern(e.pattern, channel));
      if (!to.length) return;
      queue.push({ channel, message: String(message), to });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    async subscribe(pattern, handler) {
      checkChannel(pattern, true);
      if (closed) throw new Error('pubsub is closed');
      const entry = { pattern, handler };
      entries.push(entry);
      return async () => { entries = entries.filter((e) => e !== entry); };
    },
    async close() {
      closed = true;
      entries = [];
    },
  };
}

export default defineAdapter<PubSub, Record<string, never>>({
  port: 'pubsub',
  name: 'memory',
  local: true,
  description: 'In-process fan-out (one instance).',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: (_options, ctx) => createMemoryPubSub(ctx),
});
