import { PassThrough } from 'node:stream';
import type { Context as KoaContext } from 'koa';
import { rawReply, type Clock, type Reply } from '../../kernel/index.ts';
import type { RealtimeEvent, SseOptions } from './api.ts';
import { checkCursor } from './cursor.ts';
import type { History } from './history.ts';
import type { Hub } from './hub.ts';
import { ChannelFeed, type Delivery } from './replay.ts';

export interface SseSettings { retryMs: number; heartbeatSeconds: number; maxBufferedBytes: number }

interface OpenStream { stream: PassThrough; lastWrite: number; expiresAt?: number; end(): void }

/**
 * Server-Sent Events: `id: <cursor>` on every event, `retry:` first, a heartbeat comment when the
 * stream was quiet for `heartbeatSeconds` (driven by `tick`, on the kernel clock). A client that
 * reads too slowly (more than `maxBufferedBytes` waiting) is ended: it resumes with Last-Event-ID.
 */
export class SseStreams {
  private readonly open = new Set<OpenStream>();

  constructor(
    private readonly hub: Hub,
    private readonly history: History,
    private readonly clock: Clock,
    private readonly settings: SseSettings,
  ) {}

  get size(): number { return this.open.size; }

  async respond(koa: KoaContext, channels: string[], o: SseOptions = {}): Promise<Reply<never>> {
    const header = koa.get('last-event-id');
    const given = o.lastEventId ?? (header || (typeof koa.query.lastEventId === 'string'
      ? koa.query.lastEventId : undefined));
    const since = given === undefined || given === ''
      ? (o.fromStart ? '0' : undefined)
      : checkCursor(given, header ? 'header.last-event-id' : 'query.lastEventId');
    const stream = new PassThrough();
    koa.compress = false;
    koa.req.socket.setNoDelay(true);
    koa.req.socket.setTimeout(0);

    const stopFeed: Array<() => void> = [];
    const entry: OpenStream = {
      stream, lastWrite: this.clock.now(), expiresAt: o.expiresAt,
      end: () => {
        if (!this.open.delete(entry)) return;
        stopFeed.forEach((stop) => stop());
        stream.end();
      },
    };
    // The cap holds for live events; a replay is bounded by the history's own limits.
    const write = (text: string, capped = true) => {
      if (!this.open.has(entry)) return;
      stream.write(text);
      entry.lastWrite = this.clock.now();
      if (capped && stream.writableLength > this.settings.maxBufferedBytes) entry.end();
    };
    const send = (d: Delivery) => {
      if (d.kind === 'reset') {
        write(`event: reset\ndata: ${JSON.stringify({ channel: d.channel, reason: 'history_truncated' })}\n\n`);
        return;
      }
      write(frame(d.event), !d.replayed);
      if (o.endWhen?.(d.event)) entry.end();
    };
    this.open.add(entry);
    koa.req.once('close', () => entry.end());
    stream.once('error', () => entry.end());
    write(`retry: ${this.settings.retryMs}\n: connected\n\n`);
    const feed = new ChannelFeed(this.hub, this.history, channels, since, send);
    stopFeed.push(() => feed.stop());
    feed.start().catch(() => entry.end());
    return rawReply(200, stream as never, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
  }

  /** Heartbeats and token expiry, on the kernel clock. */
  tick(): void {
    const now = this.clock.now();
    for (const entry of [...this.open]) {
      if (entry.expiresAt !== undefined && now >= entry.expiresAt) {
        entry.stream.write(`event: expired\ndata: {"reason":"token_expired"}\n\n`);
        entry.end();
      } else if (now - entry.lastWrite >= this.settings.heartbeatSeconds * 1000) {
        entry.stream.write(': heartbeat\n\n');
        entry.lastWrite = now;
      }
    }
  }

  endAll(): void {
    for (const entry of [...this.open]) entry.end();
  }
}

function frame(event: RealtimeEvent): string {
  return `id: ${event.cursor}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}
