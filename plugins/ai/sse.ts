/**
 * Server-Sent Events responses for answers (realtime's `sse` serves channels with cursors and replay; an answer
 * is neither, so it has this small writer): `data: <json>` per event, written at once (no compression, Nagle off),
 * a comment heartbeat while the upstream is quiet, and `onClose` when the client goes away.
 *
 * The heartbeat is on the kernel clock: `tick()` writes `: heartbeat` to every stream quiet for 15 s or more; the
 * plugin calls it every second (`start`), tests call it after moving a manual clock.
 */
import { PassThrough } from 'node:stream';
import type { Context as KoaContext } from 'koa';
import { rawReply, type Clock, type Reply } from '../../kernel/index.ts';

export interface SseWriter {
  reply: Reply<never>;
  send(event: object): void;
  end(): void;
  /** True once the response ended (by `end`, or because the client left). */
  readonly closed: boolean;
  /** Called once if the client disconnects before `end`. */
  onClose(listener: () => void): void;
}

export const HEARTBEAT_MS = 15_000;
const TICK_MS = 1000;

interface Open { lastWrite: number; beat(): void }

export class AnswerStreams {
  private readonly live = new Set<Open>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly clock: Clock, private readonly heartbeatMs = HEARTBEAT_MS) {}

  /** Open answer streams (for tests and metrics). */
  get size(): number { return this.live.size; }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A heartbeat comment on every stream that has been quiet for `heartbeatMs` or more. */
  tick(): void {
    const now = this.clock.now();
    for (const s of this.live) if (now - s.lastWrite >= this.heartbeatMs) s.beat();
  }

  open(koa: KoaContext, headers: Record<string, string> = {}): SseWriter {
    const stream = new PassThrough();
    koa.compress = false;
    koa.req.socket.setNoDelay(true);
    koa.req.socket.setTimeout(0);
    let closed = false;
    const listeners: Array<() => void> = [];
    const write = (text: string) => {
      if (closed) return;
      stream.write(text);
      entry.lastWrite = this.clock.now();
    };
    const entry: Open = { lastWrite: this.clock.now(), beat: () => write(': heartbeat\n\n') };
    const finish = () => {
      if (closed) return false;
      closed = true;
      this.live.delete(entry);
      return true;
    };
    // The response's close (not the request's: a POST's request closes once its body is read).
    koa.res.once('close', () => { if (finish()) listeners.forEach((l) => l()); });
    stream.once('error', () => { if (finish()) listeners.forEach((l) => l()); });
    this.live.add(entry);
    write(': connected\n\n');
    return {
      reply: rawReply(200, stream as never, {
        ...headers,
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        'X-Accel-Buffering': 'no',
      }),
      send: (event) => write(`data: ${JSON.stringify(event)}\n\n`),
      end: () => { if (finish()) stream.end(); },
      get closed() { return closed; },
      onClose: (listener) => { listeners.push(listener); },
    };
  }
}
