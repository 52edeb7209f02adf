/**
 * What the realtime plugin exports to plugins that list it in `requires`:
 * `defineServices<{ requires: RealtimeExports }>()`, then `realtime` in their cradle.
 */
import type { Context as KoaContext } from 'koa';
import type { EntityManager } from '@mikro-orm/core';
import type { Principal, Reply } from '../../kernel/index.ts';

/** One event of a channel. `cursor` orders events and resumes streams (see `isCursor`). */
export interface RealtimeEvent { channel: string; type: string; data: unknown; cursor: string; at: string }

/** Says whether `principal` may read `channel` (which starts with the prefix it was registered for). */
export type ChannelCheck = (principal: Principal, channel: string) => Promise<boolean>;

/** What a WebSocket message handler (`onMessage`) gets besides the message. */
export interface SocketMessageContext { principal: Principal; sessionId: string }
/**
 * Handles one client message type over WebSocket (e.g. jobs' `answer`). Its result is sent as
 * `{ type: 'ack', op, id, result }`; a thrown AppError as `{ type: 'error', op, id, code, message, status }`.
 */
export type SocketMessageHandler = (message: Record<string, unknown>, ctx: SocketMessageContext) => Promise<unknown>;

export interface SseOptions {
  /** Resume after this cursor; default the `Last-Event-ID` header, else `?lastEventId=`. `0`: the whole history. */
  lastEventId?: string;
  /** Without a cursor, replay the retained history first (a job stream: its earlier progress and a final `done`). */
  fromStart?: boolean;
  /** Ends the stream after the first event for which this holds (`done`, `error`). */
  endWhen?: (event: RealtimeEvent) => boolean;
  /** Ends the stream at this time (ms since the epoch), e.g. when the token that opened it expires. */
  expiresAt?: number;
}

export interface Realtime {
  /** Stores in the durable history (same unit of work when `em` given) and fans out over PubSub after commit. */
  emit(channel: string, type: string, data: unknown, o?: { em?: EntityManager }): Promise<RealtimeEvent>;
  /** Authorisation hook: a plugin says who may read its channels (prefix, e.g. `job:`). */
  authorize(prefix: string, check: ChannelCheck): void;
  /** Whether `principal` may read `channel`: `user:<id>` is its own user's only; an unknown prefix is denied. */
  canRead(principal: Principal, channel: string): Promise<boolean>;
  /**
   * An SSE response for `channels` (already authorised by the caller): return it from the handler. Invalid
   * cursors throw a 400 before anything is sent. Declare the operation's 200 as `text/event-stream`
   * (the reply carries a stream, not a body: hence `never`).
   */
  sse(koa: KoaContext, channels: string[], o?: SseOptions): Promise<Reply<never>>;
  /** Registers the handler of a client WebSocket message type; one per type (`answer`, ...). */
  onMessage(type: string, handler: SocketMessageHandler): void;
  /** The retained events of `channel` after `after` (default: from the start), oldest first. */
  history(channel: string, o?: { after?: string; limit?: number }): Promise<RealtimeEvent[]>;
}

export interface RealtimeExports { realtime: Realtime }

/** WebSocket close codes the server uses (documented in the README's Realtime section). */
export const CLOSE_CODES = {
  goingAway: 1001,
  tooBig: 1009,
  tokenExpired: 4401,
  timeout: 4408,
  slowConsumer: 4429,
} as const;
