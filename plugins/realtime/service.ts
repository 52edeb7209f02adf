import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Cache, Clock, Lifecycle, Principal, PubSub } from '../../kernel/index.ts';
import type { ChannelCheck, Realtime, RealtimeEvent, SocketMessageHandler, SseOptions } from './api.ts';
import { ChannelAccess } from './access.ts';
import { cursorMaker } from './cursor.ts';
import { History, type HistoryLimits } from './history.ts';
import { Hub } from './hub.ts';
import { SseStreams, type SseSettings } from './sse.ts';
import { Sockets, type SocketSettings } from './socket.ts';
import { Tickets } from './tickets.ts';
import type { Context as KoaContext } from 'koa';

export interface RealtimeConfig {
  history: HistoryLimits & { maxEventBytes: number; pruneEvery: number; sweepSeconds: number };
  sse: SseSettings;
  ws: SocketSettings & { ticketTtlSeconds: number };
  tickMs: number;
}

const CHANNEL = /^[a-z][a-z0-9_.-]{0,48}:[^\s]{1,150}$/;
const TYPE = /^[a-z][a-zA-Z0-9_.:-]{0,49}$/;

/** The plugin's one singleton: emit and history, channel access, the SSE streams and WebSocket sessions. */
export class RealtimeService implements Realtime {
  readonly access = new ChannelAccess();
  readonly store: History;
  readonly hub: Hub;
  readonly streams: SseStreams;
  readonly sockets: Sockets;
  readonly tickets: Tickets;
  private readonly nextCursor: () => string;
  private readonly emitted = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly deps: {
    orm: MikroORM; clock: Clock; logger: Logger; cache: Cache; pubsub?: PubSub; lifecycle: Lifecycle;
    config: RealtimeConfig; ids: { next(): string };
  }) {
    const { config, clock, logger } = deps;
    this.nextCursor = cursorMaker(clock);
    this.store = new History(deps.orm, clock, config.history);
    this.hub = new Hub(deps.pubsub, logger, (events) => this.committed(events));
    this.streams = new SseStreams(this.hub, this.store, clock, config.sse);
    this.tickets = new Tickets(deps.cache, clock, config.ws.ticketTtlSeconds);
    this.sockets = new Sockets({
      hub: this.hub, history: this.store, access: this.access, tickets: this.tickets, clock, logger,
      settings: config.ws, ids: deps.ids,
    });
  }

  async start(): Promise<void> {
    await this.hub.start(this.deps.orm);
    const { tickMs, history } = this.deps.config;
    this.timers.push(setInterval(() => this.tick(), tickMs).unref());
    this.timers.push(setInterval(() => this.deps.lifecycle.defer('history sweep', () => this.store.sweep()),
      history.sweepSeconds * 1000).unref());
    this.deps.lifecycle.onStopping(() => {
      this.streams.endAll();
      this.sockets.closeAll();
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.streams.endAll();
    this.sockets.terminateAll();
    await this.hub.stop();
  }

  /** Heartbeats, pings, timeouts and token expiry of every open stream and socket (a timer calls it). */
  tick(): void {
    this.streams.tick();
    this.sockets.tick();
  }

  async emit(channel: string, type: string, data: unknown, o: { em?: EntityManager } = {}): Promise<RealtimeEvent> {
    if (!CHANNEL.test(channel)) throw new Error(`realtime.emit: bad channel "${String(channel).slice(0, 60)}"`);
    if (!TYPE.test(type)) throw new Error(`realtime.emit: bad event type "${String(type).slice(0, 60)}"`);
    const payload = JSON.stringify(data ?? null);
    const bytes = Buffer.byteLength(payload);
    if (bytes > this.deps.config.history.maxEventBytes) {
      throw new Error(`realtime.emit: data of ${bytes} bytes is over history.maxEventBytes`);
    }
    const cursor = this.nextCursor();
    const createdAt = this.deps.clock.date();
    const em = o.em ?? this.deps.orm.em.fork();
    em.persist(em.create('RealtimeEvent', { id: cursor, channel, type, payload, bytes, createdAt }));
    if (!o.em) await em.flush();
    return { channel, type, data: JSON.parse(payload), cursor, at: createdAt.toISOString() };
  }

  authorize(prefix: string, check: ChannelCheck): void {
    this.access.authorize(prefix, check);
  }

  canRead(principal: Principal, channel: string): Promise<boolean> {
    return this.access.canRead(principal, channel);
  }

  sse(koa: KoaContext, channels: string[], o?: SseOptions) {
    return this.streams.respond(koa, channels, o);
  }

  onMessage(type: string, handler: SocketMessageHandler): void {
    this.sockets.onMessage(type, handler);
  }

  async history(channel: string, o: { after?: string; limit?: number } = {}): Promise<RealtimeEvent[]> {
    return this.store.after([channel], o.after ?? '0', Math.min(o.limit ?? 500, 500));
  }

  /** Every `pruneEvery` committed events of a channel on this instance (and its first), prune it. */
  private committed(events: RealtimeEvent[]): void {
    const every = this.deps.config.history.pruneEvery;
    if (this.emitted.size > 10_000) this.emitted.clear();
    for (const channel of new Set(events.map((e) => e.channel))) {
      const before = this.emitted.get(channel);
      const n = (before ?? 0) + events.filter((e) => e.channel === channel).length;
      this.emitted.set(channel, n >= every ? 0 : n);
      if (before === undefined || n >= every) {
        this.deps.lifecycle.defer('history prune', () => this.store.prune(channel));
      }
    }
  }
}
