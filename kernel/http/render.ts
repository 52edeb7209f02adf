import type { Context } from 'koa';
import { AppError, isAppError } from '../errors.ts';
import { isReply, type Page } from '../plugin.ts';
import { errorBody, plainDialect, type ErrorDialect, type ErrorRenderer } from './errorFormat.ts';

export type Envelope = 'plain' | 'success';

/** Response headers an error keeps: the request id, CORS, and the rate-limit state of this request. */
const KEPT_ON_ERROR = /^(x-request-id|vary|access-control-.*|x-ratelimit-.*|ratelimit|ratelimit-policy)$/;

/**
 * Writes the one error format in the deployment's dialect (see errorFormat.ts). Headers a
 * handler set (Cache-Control, Content-Disposition...) are dropped first; once the headers
 * are on the wire no error body can follow, so the response is cut short instead.
 */
export function renderError(ctx: Context, error: AppError, envelope: Envelope | ErrorDialect): void {
  if (ctx.headerSent || !ctx.writable) {
    ctx.respond = false;
    ctx.res.destroy();
    return;
  }
  for (const name of Object.keys(ctx.response.headers)) if (!KEPT_ON_ERROR.test(name)) ctx.remove(name);
  ctx.status = error.status;
  if (error.headers)
    for (const [k, v] of Object.entries(error.headers)) k.toLowerCase() === 'vary' ? ctx.vary(v) : ctx.set(k, v);
  // An operation with `x-error-format` (set by its route): a plugin's format instead of the deployment's.
  const format = ctx.state.errorFormat as ErrorRenderer | undefined;
  if (format) {
    const out = format(error, ctx.state.requestId as string);
    if (out.status !== undefined) ctx.status = out.status;
    if (out.headers) for (const [k, v] of Object.entries(out.headers)) ctx.set(k, v);
    ctx.body = out.body;
    return;
  }
  const dialect = typeof envelope === 'string' ? plainDialect(envelope) : envelope;
  ctx.body = errorBody(dialect, error, ctx.state.requestId as string);
}

/** Turns anything thrown into an AppError without leaking internals. */
export function toAppError(err: unknown): { error: AppError; unexpected: boolean } {
  if (isAppError(err)) return { error: err, unexpected: false };
  const e = err as {
    status?: number;
    statusCode?: number;
    type?: string;
    expose?: boolean;
    message?: string;
    code?: string;
    name?: string;
  };
  const status = e?.status ?? e?.statusCode;
  if (status === 413 || e?.type === 'entity.too.large')
    return { error: new AppError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large'), unexpected: false };
  if (e?.type === 'entity.parse.failed' || (status === 400 && e?.name === 'SyntaxError'))
    return { error: new AppError(400, 'MALFORMED_JSON', 'The request body is not valid JSON'), unexpected: false };
  if (e?.type === 'encoding.unsupported' || status === 415)
    return {
      error: new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported'),
      unexpected: false,
    };
  if (isDecodingFailure(err))
    return {
      error: new AppError(400, 'MALFORMED_BODY', 'The request body could not be decoded as its Content-Encoding says'),
      unexpected: false,
    };
  if (e?.type === 'request.aborted')
    return { error: new AppError(400, 'REQUEST_ABORTED', 'The request was aborted'), unexpected: false };
  if (typeof status === 'number' && status >= 400 && status < 500 && e.expose) {
    return { error: new AppError(status, 'BAD_REQUEST', e.message ?? 'Bad request'), unexpected: false };
  }
  if (isUniqueViolation(err))
    return { error: new AppError(409, 'CONFLICT', 'A resource with these values already exists'), unexpected: false };
  if (isDependencyFailure(err))
    return {
      error: new AppError(503, 'SERVICE_UNAVAILABLE', 'A dependency is unavailable, retry later', {
        details: { retry_after: 5 },
        headers: { 'Retry-After': '5' },
      }),
      unexpected: true,
    };
  return { error: new AppError(500, 'INTERNAL_ERROR', 'An unexpected error occurred'), unexpected: true };
}

/** zlib (gzip, deflate) and brotli errors: `Content-Encoding: gzip` over a plain or truncated body. */
function isDecodingFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^(Z_(DATA|BUF|NEED_DICT|STREAM)_ERROR|ERR__ERROR_\w+|ERR_BROTLI\w*)$/.test(code);
}

const UNIQUE_CODES = new Set<unknown>([
  '23505',
  'SQLITE_CONSTRAINT_UNIQUE',
  'SQLITE_CONSTRAINT_PRIMARYKEY',
  11000,
  11001,
]);

/** A unique-constraint violation on any driver: MikroORM's exception, pg 23505, SQLite/libsql, Mongo E11000. */
function isUniqueViolation(err: unknown, depth = 0): boolean {
  const e = err as {
    code?: unknown;
    name?: string;
    sqlState?: string;
    rawCode?: number;
    cause?: unknown;
    message?: string;
  };
  if (!e || depth > 3) return false;
  if (e.name === 'UniqueConstraintViolationException') return true;
  if (UNIQUE_CODES.has(e.code) || e.sqlState === '23505' || e.rawCode === 2067 || e.rawCode === 1555) return true;
  if (typeof e.name === 'string' && /^Mongo/.test(e.name) && /^E11000 /.test(e.message ?? '')) return true;
  return e.cause ? isUniqueViolation(e.cause, depth + 1) : false;
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01',
  '57P03',
  '08006',
  '08001',
  '08004',
]);

/** Driver and client errors that mean "the service behind us is down", not "our bug". */
function isDependencyFailure(err: unknown): boolean {
  const e = err as { code?: string; name?: string; cause?: unknown; message?: string };
  if (!e) return false;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  if (
    e.name === 'ConnectionException' ||
    e.name === 'MongoServerSelectionError' ||
    e.name === 'MongoNetworkError' ||
    e.name === 'KafkaJSConnectionError'
  )
    return true;
  if (/Connection is closed|Stream isn't writeable|connect ECONNREFUSED/.test(e.message ?? '')) return true;
  return e.cause ? isDependencyFailure(e.cause) : false;
}

/** Applies the deployment's envelope to a handler result and sets the status. */
export function renderResult(
  ctx: Context,
  result: unknown,
  defaultStatus: number,
  envelope: Envelope,
  defaultMessage = 'OK',
): unknown {
  let status = defaultStatus;
  let body = result;
  let message: string | undefined;
  let raw = false;
  if (isReply(result)) {
    raw = result.raw === true;
    status = result.status;
    body = result.body;
    message = result.message;
    if (result.headers) for (const [k, v] of Object.entries(result.headers)) ctx.set(k, v);
  }
  // ctx.response, not Koa's ctx delegates: one getter call less each, on every request.
  const response = ctx.response;
  response.status = status;
  if (status === 204 || status === 304) {
    response.body = null;
    return undefined;
  }
  if (envelope === 'plain' || raw) {
    response.body = body ?? null;
  } else if (isPage(body)) {
    response.body = { success: true, data: body.data, pagination: body.pagination, message: message ?? defaultMessage };
  } else {
    response.body = { success: true, data: body ?? null, message: message ?? defaultMessage };
  }
  return body;
}

/**
 * A JSON body (a plain object or array, which Koa stringifies when it responds) as its JSON text, at once: with
 * compression on, koa-compress reads `ctx.response.length` to compare with its threshold, which for an object is
 * a whole JSON.stringify, and Koa stringified it again to send it. Same bytes, Content-Type and Content-Length;
 * call it only where no header is added after it (Content-Length is then last, as when Koa sets it). A body
 * that does not stringify is left to Koa as before.
 */
export function jsonBodyAsText(ctx: Context): void {
  const response = ctx.response;
  const body: unknown = response.body;
  if (body === null || typeof body !== 'object') return;
  const proto = Object.getPrototypeOf(body);
  if (proto !== Object.prototype && proto !== null && !Array.isArray(body)) return;
  const type = ctx.res.getHeader('content-type');
  if (typeof type !== 'string' || !/\bjson\b/i.test(type)) return;
  let text: string | undefined;
  try {
    text = JSON.stringify(body);
  } catch {
    return;
  }
  if (typeof text === 'string') response.body = text;
}

function isPage(v: unknown): v is Page<unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    Array.isArray((v as Page<unknown>).data) &&
    typeof (v as Page<unknown>).pagination === 'object'
  );
}
