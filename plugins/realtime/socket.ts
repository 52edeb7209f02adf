import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { AppError, type Clock, type Principal, type UpgradeRequest } from '../../kernel/index.ts';
import { CLOSE_CODES, type SocketMessageHandler } from './api.ts';
import type { ChannelAccess } from './access.ts';
import { isCursor } from './cursor.ts';
import type { History } from './history.ts';
import type { Hub } from './hub.ts';
import { ChannelFeed, type Delivery } from './replay.ts';
import { sendFrame, textFrame } from './frame.ts';
import { tokenExpiry, type Tickets } from './tickets.ts';

export interface SocketSettings {
  pingSeconds: number;
  idleSeconds: number;
  maxBufferedBytes: number;
  maxMessageBytes: number;
  maxSubscriptions: number;
  maxSessionsPerUser: number;
  /** Sustained client messages per second (the burst is as many); past it a message gets `RATE_LIMITED`. */
  maxMessagesPerSecond: number;
}

type Reauthenticate = (token: string) => Promise<Principal | undefined>;

interface Session {
  id: string;
  ws: WebSocket;
  principal: Principal;
  expiresAt?: number;
  feeds: Map<string, ChannelFeed>;
  lastMessage: number;
  lastPing: number;
  awaitingPong: boolean;
  closing: boolean;
  reauthenticate: Reauthenticate;
  /** Messages are handled one at a time, in order: a subscribe then an unsubscribe mean what they say. */
  queue: Promise<void>;
  /** Token bucket of client messages, on the kernel clock. */
  bucket: { tokens: number; at: number };
}

const CHANNEL = /^[a-z][a-z0-9_.-]{0,48}:[^\s]{1,150}$/;
/** Server message types by event type: the issue's `progress` and `decision`, the rest as `event`. */
const KIND: Record<string, string> = { progress: 'progress', decision: 'decision' };

/**
 * WebSocket sessions on `GET /realtime`. Client messages are JSON objects with a `type` and an
 * optional `id` echoed in the reply: `subscribe {channel, since}`, `unsubscribe {channel}`,
 * `ping`, `auth {token}` (re-authenticate before the token expires), and types registered with
 * `onMessage` (`answer`). See the README's Realtime section for what the server sends and the close codes.
 */
export class Sockets {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private readonly handlers = new Map<string, SocketMessageHandler>();
  /** Each event's text and its prebuilt frame (see frame.ts), made once for all its sockets. */
  private readonly frames = new WeakMap<object, { text: string; frame: Buffer }>();
  private seq = 0;

  constructor(
    private readonly deps: {
      hub: Hub; history: History; access: ChannelAccess; tickets: Tickets; clock: Clock; logger: Logger;
      settings: SocketSettings; ids: { next(): string };
    },
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.settings.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // The token travels as the second offered protocol; the server picks `bearer`, never echoing the token.
      handleProtocols: (protocols) => (protocols.has('bearer') ? 'bearer' : false),
    });
  }

  get size(): number { return this.sessions.size; }

  private now(): string { return this.deps.clock.date().toISOString(); }

  onMessage(type: string, handler: SocketMessageHandler): void {
    if (['subscribe', 'unsubscribe', 'ping', 'auth'].includes(type) || this.handlers.has(type)) {
      throw new Error(`realtime.onMessage: "${type}" is taken`);
    }
    this.handlers.set(type, handler);
  }

  /** The upgrade hook of `realtime.socket`: a ticket (`?ticket=`), a `bearer` protocol, or an Authorization header. */
  async upgrade(u: UpgradeRequest): Promise<void> {
    const url = new URL(u.req.url ?? '/', 'http://localhost');
    const ticket = url.searchParams.get('ticket');
    const offered = String(u.req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    const bearer = offered[0] === 'bearer' ? offered[1] : undefined;
    const withToken = (token: string) => u.authenticate({ ...u.req.headers, authorization: `Bearer ${token}` });
    let principal: Principal | undefined;
    let expiresAt: number | undefined;
    if (ticket) {
      const taken = await this.deps.tickets.take(ticket);
      if (!taken) throw new AppError(401, 'TICKET_INVALID', 'The ticket is unknown, expired or already used');
      ({ principal, expiresAt } = taken);
    } else if (bearer) {
      principal = await withToken(bearer);
      expiresAt = tokenExpiry(bearer);
    } else {
      principal = await u.authenticate();
      expiresAt = tokenExpiry(String(u.req.headers.authorization ?? ''));
    }
    if (!principal) {
      throw new AppError(401, 'UNAUTHORIZED',
        'Authenticate with ?ticket= (POST /realtime/tickets) or the protocols ["bearer", <token>]',
        { headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    const mine = [...this.sessions].filter((s) => s.principal.id === principal!.id).length;
    if (mine >= this.deps.settings.maxSessionsPerUser) {
      throw new AppError(429, 'TOO_MANY_SESSIONS',
        `At most ${this.deps.settings.maxSessionsPerUser} realtime sessions per user`);
    }
    const who = principal;
    this.wss.handleUpgrade(u.req, u.socket, u.head, (ws) => this.start(ws, who, expiresAt, withToken));
  }

  private start(ws: WebSocket, principal: Principal, expiresAt: number | undefined, reauthenticate: Reauthenticate) {
    const now = this.deps.clock.now();
    const session: Session = {
      id: `${process.pid.toString(36)}.${(++this.seq).toString(36)}`, ws, principal, expiresAt, feeds: new Map(),
      lastMessage: now, lastPing: now, awaitingPong: false, closing: false, reauthenticate, queue: Promise.resolve(),
      bucket: { tokens: this.deps.settings.maxMessagesPerSecond, at: now },
    };
    this.sessions.add(session);
    ws.on('message', (data, isBinary) => {
      session.queue = session.queue.then(() => this.message(session, data, isBinary));
    });
    ws.on('pong', () => { session.awaitingPong = false; });
    ws.on('error', () => {}); // a frame over maxPayload, a bad frame: ws closes the socket (1009, 1002)
    ws.on('close', () => this.ended(session));
  }

  private ended(session: Session): void {
    if (!this.sessions.delete(session)) return;
    for (const feed of session.feeds.values()) feed.stop();
    session.feeds.clear();
  }

  /** `capped`: live traffic is refused past the send buffer cap; a replay is bounded by the history's limits. */
  private send(session: Session, message: Record<string, unknown> | { text: string; frame: Buffer },
    capped = true): void {
    if (session.closing || session.ws.readyState !== session.ws.OPEN) return;
    if (capped && session.ws.bufferedAmount > this.deps.settings.maxBufferedBytes) {
      this.close(session, CLOSE_CODES.slowConsumer, 'slow consumer: send buffer full');
      return;
    }
    if (message.frame instanceof Buffer) sendFrame(session.ws, message.frame, message.text as string);
    else session.ws.send(JSON.stringify(message));
  }

  /** Closes with `code`; a peer that does not complete the close handshake is cut off at the next tick. */
  private close(session: Session, code: number, reason: string): void {
    if (session.closing) return;
    session.closing = true;
    for (const feed of session.feeds.values()) feed.stop();
    session.feeds.clear();
    session.lastPing = this.deps.clock.now();
    session.ws.close(code, reason);
  }

  private async message(session: Session, data: RawData, isBinary: boolean): Promise<void> {
    session.lastMessage = this.deps.clock.now();
    const fail = (code: string, message: string, id?: unknown, extra: Record<string, unknown> = {}) =>
      this.send(session, { type: 'error', ...(id === undefined ? {} : { id }), code, message, ...extra });
    if (!this.take(session)) return fail('RATE_LIMITED', 'Too many messages: slow down');
    if (isBinary) return fail('BINARY_NOT_SUPPORTED', 'Send JSON text frames');
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      return fail('BAD_JSON', 'The message is not valid JSON');
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || typeof msg.type !== 'string') {
      return fail('BAD_MESSAGE', 'A message is a JSON object with a string "type"');
    }
    const id = typeof msg.id === 'string' || typeof msg.id === 'number' ? msg.id : undefined;
    const ack = (op: string, extra: Record<string, unknown> = {}) =>
      this.send(session, { type: 'ack', op, ...(id === undefined ? {} : { id }), ...extra });
    try {
      switch (msg.type) {
        case 'ping':
          return this.send(session, { type: 'pong', ...(id === undefined ? {} : { id }), at: this.now() });
        case 'subscribe':
          return await this.subscribe(session, msg, id, ack, fail);
        case 'unsubscribe': {
          const channel = typeof msg.channel === 'string' ? msg.channel : '';
          session.feeds.get(channel)?.stop();
          session.feeds.delete(channel);
          return ack('unsubscribe', { channel });
        }
        case 'auth':
          return await this.reauthenticate(session, msg, ack, fail, id);
        default: {
          const handler = this.handlers.get(msg.type);
          if (!handler) return fail('UNKNOWN_TYPE', `Unknown message type "${msg.type.slice(0, 40)}"`, id);
          const result = await handler(msg, { principal: session.principal, sessionId: session.id });
          return ack(msg.type, result === undefined ? {} : { result });
        }
      }
    } catch (err) {
      if (err instanceof AppError) {
        return fail(err.code, err.message, id, { op: msg.type, status: err.status,
          ...(err.errorDetails ? { details: err.errorDetails } : {}) });
      }
      this.deps.logger.error({ err, op: msg.type }, 'realtime: a socket message failed');
      return fail('INTERNAL_ERROR', 'An unexpected error occurred', id, { op: msg.type });
    }
  }

  private take(session: Session): boolean {
    const rate = this.deps.settings.maxMessagesPerSecond;
    const now = this.deps.clock.now();
    const b = session.bucket;
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private async subscribe(
    session: Session, msg: Record<string, unknown>, id: unknown,
    ack: (op: string, extra?: Record<string, unknown>) => void,
    fail: (code: string, message: string, id?: unknown, extra?: Record<string, unknown>) => void,
  ): Promise<void> {
    const channel = msg.channel;
    if (typeof channel !== 'string' || !CHANNEL.test(channel)) {
      return fail('BAD_CHANNEL', 'channel must look like "job:<id>" or "user:<id>"', id, { op: 'subscribe' });
    }
    if (msg.since !== undefined && msg.since !== null && !isCursor(msg.since)) {
      return fail('BAD_CURSOR', 'since must be a cursor (an event id, or 0 for the whole history)', id,
        { op: 'subscribe', channel });
    }
    if (!(await this.deps.access.canRead(session.principal, channel))) {
      return fail('CHANNEL_FORBIDDEN', 'You may not read this channel', id, { op: 'subscribe', channel });
    }
    if (session.feeds.has(channel)) return ack('subscribe', { channel });
    if (session.feeds.size >= this.deps.settings.maxSubscriptions) {
      return fail('TOO_MANY_SUBSCRIPTIONS', `At most ${this.deps.settings.maxSubscriptions} channels per socket`,
        id, { op: 'subscribe', channel });
    }
    const since = typeof msg.since === 'string' ? msg.since : undefined;
    let acked = false;
    const early: Delivery[] = [];
    const deliver = (d: Delivery) => {
      if (!acked) { early.push(d); return; }
      this.deliver(session, d);
    };
    const feed = new ChannelFeed(this.deps.hub, this.deps.history, [channel], since, deliver);
    session.feeds.set(channel, feed);
    await feed.start();
    // Replayed events first, then the ack ("caught up"), then live events as they come.
    acked = true;
    for (const d of early) this.deliver(session, d);
    ack('subscribe', { channel });
  }

  private deliver(session: Session, d: Delivery): void {
    if (d.kind === 'reset') {
      this.send(session, { type: 'event', event: 'reset', channel: d.channel, data: { reason: 'history_truncated' } });
      return;
    }
    const { event } = d;
    // One event object reaches every socket of the channel: serialise and frame it once.
    let out = this.frames.get(event);
    if (out === undefined) {
      const text = JSON.stringify({ type: KIND[event.type] ?? 'event', event: event.type, channel: event.channel,
        data: event.data, cursor: event.cursor, at: event.at });
      out = { text, frame: textFrame(text) };
      this.frames.set(event, out);
    }
    this.send(session, out, !d.replayed);
  }

  private async reauthenticate(
    session: Session, msg: Record<string, unknown>, ack: (op: string, extra?: Record<string, unknown>) => void,
    fail: (code: string, message: string, id?: unknown, extra?: Record<string, unknown>) => void, id: unknown,
  ): Promise<void> {
    if (typeof msg.token !== 'string' || msg.token.length > 8192) {
      return fail('BAD_MESSAGE', 'auth needs a "token"', id, { op: 'auth' });
    }
    const principal = await session.reauthenticate(msg.token);
    if (!principal || principal.id !== session.principal.id) {
      return fail('AUTH_MISMATCH', 'The token must be for the same principal', id, { op: 'auth' });
    }
    session.principal = principal;
    session.expiresAt = tokenExpiry(msg.token);
    ack('auth', session.expiresAt ? { expiresAt: new Date(session.expiresAt).toISOString() } : {});
  }

  /** Token expiry, pings and the idle timeout, on the kernel clock. */
  tick(): void {
    const now = this.deps.clock.now();
    const { pingSeconds, idleSeconds } = this.deps.settings;
    for (const s of [...this.sessions]) {
      if (s.closing) {
        if (now - s.lastPing >= pingSeconds * 1000) s.ws.terminate();
      } else if (s.expiresAt !== undefined && now >= s.expiresAt) {
        this.close(s, CLOSE_CODES.tokenExpired, 'token expired');
      } else if (s.awaitingPong && now - s.lastPing >= pingSeconds * 1000) {
        this.close(s, CLOSE_CODES.timeout, 'ping timeout');
      } else if (!s.feeds.size && now - s.lastMessage >= idleSeconds * 1000) {
        this.close(s, CLOSE_CODES.timeout, 'idle');
      } else if (now - s.lastPing >= pingSeconds * 1000) {
        s.lastPing = now;
        s.awaitingPong = true;
        s.ws.ping();
      }
    }
  }

  /** Shutdown: every socket is told 1001 (going away) and reconnects elsewhere. */
  closeAll(): void {
    for (const s of [...this.sessions]) this.close(s, CLOSE_CODES.goingAway, 'server shutting down');
  }

  terminateAll(): void {
    for (const s of [...this.sessions]) s.ws.terminate();
    this.wss.close();
  }
}
