import { createHash, randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { AppError, errors } from '../errors.ts';
import type { Principal } from '../plugin.ts';
import type { Cache } from '../ports/cache.ts';
import { renderError, toAppError, type Envelope } from './render.ts';
import type { OperationEntry } from './contracts.ts';
import type { KernelConfig } from '../config/schema.ts';
import { BootError } from '../config/problems.ts';

/**
 * Idempotency keys with Stripe's semantics, for operations marked `x-idempotent: true`.
 * The first response to a key (status, the headers the operation set, body) is stored per
 * principal (or client IP) and key, and replayed with `Idempotent-Replayed: true`. The key is
 * taken first as a lease in the Cache port (shared by every instance on Redis): a duplicate
 * while the first runs gets 409, the same key with another request 422. The lease is renewed
 * while the first request runs and expires after a crash, so no key stays stuck. 5xx
 * responses are not stored: the key is released and the client may retry.
 */
export interface IdempotencyOptions {
  cache: Cache;
  ttlMs: number;
  leaseMs: number;
  envelope: Envelope;
  logger: Logger;
}

/** Runs `run` (which renders the response into `ctx`) under the request's Idempotency-Key, if any. */
export type IdempotentRunner = (
  ctx: Context, principal: Principal | undefined, body: unknown, run: () => Promise<void>,
) => Promise<void>;

interface Running { state: 'running'; fingerprint: string; lease: string }
interface Stored {
  state: 'done'; fingerprint: string; status: number; headers: Record<string, string | string[]>; body: unknown;
}

/** Stripe allows up to 255 characters; visible ASCII keeps keys safe in logs and headers. */
const KEY = /^[\x21-\x7e]{1,255}$/;
/** Headers that belong to each delivery, not to the stored response. */
const NOT_STORED = new Set(['content-length', 'x-request-id', 'date', 'connection', 'transfer-encoding']);
const CACHE_PREFIX = 'kernel:idempotency:';

export function idempotencyRunner(options: IdempotencyOptions): IdempotentRunner {
  const { cache, ttlMs, leaseMs, envelope, logger } = options;

  return async function idempotent(ctx, principal, body, run) {
    const header = ctx.get('idempotency-key');
    if (!header) return run();
    if (!KEY.test(header)) {
      const message = 'must be 1 to 255 visible ASCII characters';
      throw errors.validation([{ field: 'header.idempotency-key', message, code: 'pattern' }]);
    }
    const scope = principal ? `${principal.type}:${principal.id}` : `ip:${ctx.ip}`;
    const key = CACHE_PREFIX + sha256(JSON.stringify([scope, header]));
    const fingerprint = sha256(`${ctx.method} ${ctx.path}?${ctx.querystring}\n${stableJson(body)}`);
    const lease: Running = { state: 'running', fingerprint, lease: randomUUID() };

    // A record that vanishes between the failed take and the read (expiry) is retried once.
    for (let attempt = 0; ; attempt++) {
      if (await cache.set(key, lease, { ttlMs: leaseMs, ifAbsent: true })) break;
      const found = await cache.get<Running | Stored>(key);
      if (!found) {
        if (attempt === 0) continue;
        throw inProgress();
      }
      if (found.fingerprint !== fingerprint) {
        throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request', {
          details: { header: 'Idempotency-Key' },
        });
      }
      if (found.state === 'running') throw inProgress();
      replay(ctx, found);
      return;
    }

    const operationId = ctx.state.operationId as string;
    const renew = setInterval(() => {
      cache.compareAndSet(key, lease, lease, { ttlMs: leaseMs })
        .then((held) => { if (!held) logger.warn({ operationId }, 'idempotency lease lost while the request ran'); })
        .catch((err) => logger.warn({ err, operationId }, 'idempotency lease renewal failed'));
    }, Math.max(250, Math.floor(leaseMs / 3)));
    renew.unref();
    const before = { ...ctx.response.headers };
    try {
      await run();
    } catch (err) {
      const { error, unexpected } = toAppError(err);
      if (unexpected || error.status >= 500) {
        await release(key, lease);
        throw err;
      }
      renderError(ctx, error, envelope);
    } finally {
      clearInterval(renew);
    }
    if (ctx.status >= 500 || !isStorable(ctx.body)) {
      await release(key, lease);
      return;
    }
    const headers = changedHeaders(before, ctx.response.headers);
    const stored: Stored = { state: 'done', fingerprint, status: ctx.status, headers, body: ctx.body ?? null };
    try {
      if (!(await cache.compareAndSet(key, lease, stored, { ttlMs }))) {
        logger.warn({ operationId }, 'idempotency lease expired before the response was stored');
      }
    } catch (err) {
      // The operation's effects are committed: answer, and let the lease expire.
      logger.warn({ err, operationId }, 'storing an idempotent response failed');
    }
  };

  async function release(key: string, lease: Running) {
    await cache.compareAndDelete(key, lease)
      .catch((err) => logger.warn({ err }, 'releasing an idempotency key failed'));
  }
}

/**
 * The runner when some operation is marked `x-idempotent: true`; a boot error when such an
 * operation exists but the deployment has no cache to keep keys in.
 */
export function idempotencyFor(
  operations: OperationEntry[], cache: Cache | undefined, config: KernelConfig, logger: Logger,
): IdempotentRunner | undefined {
  const marked = operations.filter(isIdempotent);
  if (!marked.length) return undefined;
  if (!cache) throw new BootError([`${marked[0].operationId} is x-idempotent but adapters.cache is not configured`]);
  return idempotencyRunner({
    cache, ttlMs: config.idempotency.ttlSeconds * 1000, leaseMs: config.idempotency.leaseSeconds * 1000,
    envelope: config.server.envelope, logger: logger.child({ component: 'idempotency' }),
  });
}

export function isIdempotent(entry: OperationEntry): boolean {
  return (entry.operation as { 'x-idempotent'?: unknown })['x-idempotent'] === true;
}

function inProgress(): AppError {
  return new AppError(409, 'IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed', {
    details: { retry_after: 1 }, headers: { 'Retry-After': '1' },
  });
}

function replay(ctx: Context, stored: Stored) {
  for (const [name, value] of Object.entries(stored.headers)) ctx.set(name, value);
  ctx.set('Idempotent-Replayed', 'true');
  ctx.status = stored.status;
  ctx.body = stored.body;
}

/** Bodies Koa sends as JSON or text; streams and buffers (downloads) are not replayable. */
function isStorable(body: unknown): boolean {
  if (body === null || body === undefined || typeof body !== 'object') return true;
  return !Buffer.isBuffer(body) && !ArrayBuffer.isView(body) && typeof (body as { pipe?: unknown }).pipe !== 'function';
}

/** The headers the operation set or changed (Set-Cookie stays a list). */
function changedHeaders(before: Record<string, unknown>, after: Record<string, unknown>) {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(after)) {
    if (NOT_STORED.has(name) || value === undefined) continue;
    const now = headerValue(value)!;
    if (JSON.stringify(now) !== JSON.stringify(headerValue(before[name]))) out[name] = now;
  }
  return out;
}

function headerValue(v: unknown): string | string[] | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.map(String) : String(v);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` are the same request. */
export function stableJson(value: unknown): string {
  if (value === undefined) return '';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stableJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}
