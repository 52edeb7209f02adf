import { AppError, definePlugin, defineHandlers, defineServices, errors, reply } from '../../kernel/index.ts';
import type { PubSub } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import { RealtimeEventRecord, RealtimeFloor } from './entities.ts';
import { migrations } from './migrations.ts';
import { RealtimeService, type RealtimeConfig } from './service.ts';
import { tokenExpiry } from './tickets.ts';

const MAX_CHANNELS = 50;

const services = defineServices<{ config: RealtimeConfig }>()
  .singleton('realtime', (c) => {
    let pubsub: PubSub | undefined;
    try {
      pubsub = c.pubsub; // absent when the deployment configures no adapters.pubsub: this instance only
    } catch {
      pubsub = undefined;
    }
    return new RealtimeService({
      orm: c.orm, clock: c.clock, logger: c.logger, cache: c.cache, pubsub, lifecycle: c.lifecycle,
      config: c.config, ids: c.ids,
    });
  });

const int = (minimum: number, fallback: number) => ({ type: 'integer', minimum, default: fallback });

/**
 * Live events: a durable, bounded history per channel, fanned out across instances over the
 * PubSub port, served as Server-Sent Events (`GET /events/stream`, and `realtime.sse` for other
 * plugins' streams) and over WebSocket (`GET /realtime`). See the README's Realtime section.
 */
export default definePlugin({
  name: 'realtime',
  version: '1.0.0',
  description: 'SSE and WebSocket streams with resumable, durable history across instances.',
  config: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      history: {
        type: 'object', additionalProperties: false, default: {},
        properties: {
          maxEvents: int(1, 1000), maxBytes: int(1024, 1_048_576), maxAgeSeconds: int(1, 86_400),
          maxEventBytes: int(64, 65_536), pruneEvery: int(1, 20), sweepSeconds: int(1, 60),
        },
      },
      sse: {
        type: 'object', additionalProperties: false, default: {},
        properties: { retryMs: int(0, 3000), heartbeatSeconds: int(1, 15), maxBufferedBytes: int(1024, 1_048_576) },
      },
      ws: {
        type: 'object', additionalProperties: false, default: {},
        properties: {
          pingSeconds: int(1, 30), idleSeconds: int(1, 120), maxBufferedBytes: int(1024, 1_048_576),
          maxMessageBytes: int(256, 65_536), maxSubscriptions: int(1, 100), maxSessionsPerUser: int(1, 20),
          ticketTtlSeconds: int(1, 30), maxMessagesPerSecond: int(1, 50),
        },
      },
      tickMs: int(10, 1000),
    },
  },
  entities: [RealtimeEventRecord, RealtimeFloor],
  migrations,
  services,
  exports: ['realtime'],
  handlers: defineHandlers<Operations, typeof services>({
    'realtime.stream': async ({ query, headers }, { principal, koa, services }) => {
      const me = principal!;
      const asked = (query.channels ?? '').split(',').map((c) => c.trim()).filter(Boolean);
      const own = me.type === 'client' ? [] : [`user:${me.id}`];
      const channels = [...new Set([...own, ...asked])];
      if (!channels.length) throw errors.badRequest('Name at least one channel: ?channels=job:<id>');
      if (channels.length > MAX_CHANNELS) throw errors.badRequest(`At most ${MAX_CHANNELS} channels per stream`);
      for (const channel of channels) {
        if (!(await services.realtime.canRead(me, channel))) {
          throw new AppError(403, 'CHANNEL_FORBIDDEN', 'You may not read this channel', { details: { channel } });
        }
      }
      const expiresAt = tokenExpiry(typeof headers.authorization === 'string' ? headers.authorization : undefined);
      return services.realtime.sse(koa, channels, { ...(expiresAt ? { expiresAt } : {}) });
    },
    'realtime.createTicket': async ({ headers }, { principal, services }) => {
      const expiresAt = tokenExpiry(typeof headers.authorization === 'string' ? headers.authorization : undefined);
      return reply(201, await services.realtime.tickets.issue(principal!, expiresAt));
    },
    'realtime.socket': () => {
      throw new AppError(426, 'UPGRADE_REQUIRED', 'GET /realtime is a WebSocket endpoint: send Upgrade: websocket', {
        headers: { Upgrade: 'websocket', Connection: 'Upgrade' },
      });
    },
  }),
  upgrades: {
    'realtime.socket': (c) => (u) => c.realtime.sockets.upgrade(u),
  },
  async onStart(c) {
    await c.realtime.start();
  },
  async onStop(c) {
    await c.realtime.stop();
  },
});
