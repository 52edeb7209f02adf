/** Test clients for the realtime plugin: an SSE reader and a WebSocket with a message queue. */
import http from 'node:http';
import { WebSocket } from 'ws';
import type { Kernel } from '../../kernel/boot.ts';
import type { RealtimeService } from '../../plugins/realtime/service.ts';

export const realtimeOf = (kernel: Kernel) =>
  kernel.runtimes.get('realtime')!.container.cradle.realtime as RealtimeService;

export interface SseFrame { id?: string; event?: string; data?: string; retry?: string; comment?: string }

/** Waits for `check` to hold, woken by `wake`; fails after `ms` naming `what`. */
function waiter() {
  const wakers: Array<() => void> = [];
  return {
    wake: () => wakers.splice(0).forEach((w) => w()),
    async until(what: string, check: () => boolean, ms = 5000) {
      const deadline = Date.now() + ms;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          wakers.push(resolve);
          setTimeout(resolve, 100).unref();
        });
      }
    },
  };
}

export interface SseClient {
  status: number;
  headers: http.IncomingHttpHeaders;
  frames: SseFrame[];
  /** Frames that are events (have data), in arrival order. */
  events(): SseFrame[];
  untilEvents(n: number): Promise<SseFrame[]>;
  until(what: string, check: () => boolean): Promise<void>;
  ended: boolean;
  body: string;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string>): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const w = waiter();
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      let buffer = '';
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        frames: [],
        ended: false,
        body: '',
        events: () => client.frames.filter((f) => f.data !== undefined),
        async untilEvents(n) {
          await w.until(`${n} SSE events (have ${client.events().length})`, () => client.events().length >= n);
          return client.events();
        },
        until: (what, check) => w.until(what, check),
        close: () => req.destroy(),
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        client.body += chunk;
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const frame: SseFrame = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { frame.comment = line.slice(1).trim(); continue; }
            const i = line.indexOf(':');
            const key = line.slice(0, i) as keyof SseFrame;
            const value = line.slice(i + 1).replace(/^ /, '');
            frame[key] = frame[key] === undefined ? value : `${frame[key]}\n${value}`;
          }
          client.frames.push(frame);
        }
        w.wake();
      });
      res.on('end', () => { client.ended = true; w.wake(); });
      res.on('error', () => { client.ended = true; w.wake(); });
      resolve(client);
    });
    req.on('error', reject);
  });
}

export interface WsClient {
  ws: WebSocket;
  messages: Array<Record<string, any>>;
  closed?: { code: number; reason: string };
  send(message: unknown): void;
  /** The first message after index `from` that matches. */
  next(match: (m: Record<string, any>) => boolean, what?: string): Promise<Record<string, any>>;
  untilClosed(): Promise<{ code: number; reason: string }>;
  close(): void;
}

export function openWs(
  url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const w = waiter();
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    const client: WsClient = {
      ws,
      messages: [],
      send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)),
      async next(match, what = 'a matching message') {
        let found: Record<string, any> | undefined;
        await w.until(what, () => Boolean(found = client.messages.find(match)) || client.closed !== undefined);
        if (!found) throw new Error(`socket closed (${client.closed?.code}) before ${what}`);
        return found;
      },
      async untilClosed() {
        await w.until('the socket to close', () => client.closed !== undefined);
        return client.closed!;
      },
      close: () => ws.close(),
    };
    ws.on('message', (data) => { client.messages.push(JSON.parse(data.toString())); w.wake(); });
    ws.on('close', (code, reason) => { client.closed = { code, reason: reason.toString() }; w.wake(); });
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`),
        { status: res.statusCode, body })));
    });
    ws.once('error', (err) => reject(err));
  });
}
