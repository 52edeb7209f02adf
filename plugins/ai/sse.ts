/**
 * A Server-Sent Events response for one answer (realtime's `sse` serves channels with cursors and replay; an
 * answer is neither, so it has this small writer): `data: <json>` per event, written at once (no compression,
 * Nagle off), a comment heartbeat while the upstream is quiet, and `onClose` when the client goes away.
 */
import { PassThrough } from 'node:stream';
import type { Context as KoaContext } from 'koa';
import { rawReply, type Reply } from '../../kernel/index.ts';

export interface SseWriter {
  reply: Reply<never>;
  send(event: object): void;
  end(): void;
  /** True once the response ended (by `end`, or because the client left). */
  readonly closed: boolean;
  /** Called once if the client disconnects before `end`. */
  onClose(listener: () => void): void;
}

const HEARTBEAT_MS = 15_000;

export function openSse(koa: KoaContext, headers: Record<string, string> = {}): SseWriter {
  const stream = new PassThrough();
  koa.compress = false;
  koa.req.socket.setNoDelay(true);
  koa.req.socket.setTimeout(0);
  let closed = false;
  let lastWrite = Date.now();
  const listeners: Array<() => void> = [];
  const heartbeat = setInterval(() => {
    if (!closed && Date.now() - lastWrite >= HEARTBEAT_MS) write(': heartbeat\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const finish = () => {
    if (closed) return false;
    closed = true;
    clearInterval(heartbeat);
    return true;
  };
  // The response's close (not the request's: a POST's request closes once its body is read).
  koa.res.once('close', () => { if (finish()) listeners.forEach((l) => l()); });
  stream.once('error', () => { if (finish()) listeners.forEach((l) => l()); });
  const write = (text: string) => {
    if (closed) return;
    stream.write(text);
    lastWrite = Date.now();
  };
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
