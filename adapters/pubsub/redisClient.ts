import { Redis } from 'ioredis';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import { checkChannel, type PubSub, type PubSubHandler } from '../../kernel/ports/pubsub.ts';
import { errors } from '../../kernel/errors.ts';
import { connectRedis } from '../shared/redis.ts';

export interface RedisPubSubOptions {
  url: string;
  keyPrefix?: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/** `*`, `?`, `[`, `]` and `\` are glob syntax in PSUBSCRIBE. */
const escapeGlob = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

/**
 * Two connections: one publishes, one is in subscriber mode (ioredis re-subscribes it after a
 * reconnect; messages published while it was away are lost, as the port allows). One Redis
 * subscription per distinct channel or pattern, shared by this process's handlers.
 */
export async function createRedisPubSub(
  options: RedisPubSubOptions,
  ctx: AdapterContext,
): Promise<PubSub & AdapterLifecycle> {
  const prefix = options.keyPrefix ?? '';
  const connect = (what: string) => connectRedis(new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 2000,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    maxRetriesPerRequest: 1,
  }), options.url, ctx.logger, what);
  const pub = await connect('redis pubsub (publisher)');
  const sub = await connect('redis pubsub (subscriber)').catch((err) => { pub.disconnect(); throw err; });

  /** Redis name (prefixed channel, or escaped glob) -> this process's handlers. */
  type Entry = { handlers: Set<PubSubHandler>; live: Promise<unknown> };
  const exact = new Map<string, Entry>();
  const patterns = new Map<string, Entry>();
  const deliver = (entry: Entry | undefined, message: string, channel: string) => {
    const handlers = entry?.handlers;
    if (!handlers || !channel.startsWith(prefix)) return;
    const name = channel.slice(prefix.length);
    for (const handler of [...handlers]) {
      try {
        handler(message, name);
      } catch (err) {
        ctx.logger.error({ err, channel: name }, 'pubsub handler threw');
      }
    }
  };
  sub.on('message', (channel: string, message: string) => deliver(exact.get(channel), message, channel));
  sub.on('pmessage', (pattern: string, channel: string, message: string) =>
    deliver(patterns.get(pattern), message, channel));

  async function call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw errors.unavailable('pubsub', 5, err);
    }
  }

  const api: PubSub & AdapterLifecycle = {
    async publish(channel, message) {
      checkChannel(channel);
      await call(() => pub.publish(prefix + channel, String(message)));
    },
    async subscribe(pattern, handler) {
      checkChannel(pattern, true);
      const isPattern = pattern.endsWith('*');
      const name = isPattern ? `${escapeGlob(prefix + pattern.slice(0, -1))}*` : prefix + pattern;
      const table = isPattern ? patterns : exact;
      let entry = table.get(name);
      if (!entry) {
        const live = call(() => (isPattern ? sub.psubscribe(name) : sub.subscribe(name)));
        table.set(name, (entry = { handlers: new Set(), live }));
        live.catch(() => table.delete(name));
      }
      await entry.live; // a second subscriber waits for the first one's SUBSCRIBE too
      if (table.get(name) !== entry) return api.subscribe(pattern, handler); // dropped meanwhile
      const own: PubSubHandler = (message, channel) => handler(message, channel);
      entry.handlers.add(own);
      return async () => {
        const set = table.get(name)?.handlers;
        if (!set?.delete(own) || set.size > 0) return;
        table.delete(name);
        await call(() => (isPattern ? sub.punsubscribe(name) : sub.unsubscribe(name))).catch(() => {});
      };
    },
    async health() {
      await call(() => pub.ping());
    },
    async close() {
      for (const client of [sub, pub]) {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }
    },
  };
  return api;
}
