import { ServerResponse, type IncomingMessage } from 'node:http';

type Write = (this: ServerResponse, c: unknown, e?: unknown, cb?: unknown) => unknown;
const write = ServerResponse.prototype.write as Write;
const end = ServerResponse.prototype.end as Write;

/**
 * The kernel server's response class: counts the body bytes written (after compression) and
 * carries what the observer watch needs (kernel/http/observers.ts), so a watched request
 * costs no wrapper closures around `write`/`end` and no closure for its `close` listener.
 */
export class CountedResponse<Req extends IncomingMessage = IncomingMessage> extends ServerResponse<Req> {
  bytesOut = 0;
  bytesIn = 0;
  /** Set by the watch: the request's Koa context and start time. */
  watched: unknown = undefined;
  startedAt = 0;

  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    this.bytesOut += byteLength(chunk);
    return write.call(this, chunk, encoding, callback) as boolean;
  }

  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    if (typeof chunk !== 'function') this.bytesOut += byteLength(chunk);
    return end.call(this, chunk, encoding, callback) as this;
  }
}

export function byteLength(chunk: unknown): number {
  if (chunk === undefined || chunk === null) return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk);
  if (ArrayBuffer.isView(chunk)) return chunk.byteLength;
  return 0;
}
