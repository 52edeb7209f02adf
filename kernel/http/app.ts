import Koa, { type Context, type Next } from 'koa';
import compress from 'koa-compress';
import cors from '@koa/cors';
import { constants as zlib } from 'node:zlib';
import type { Logger } from 'pino';
import type { Router } from '@koa/router';
import { AppError } from '../errors.ts';
import type { KernelConfig } from '../config/schema.ts';
import type { IdGenerator } from '../ports/ids.ts';
import { renderError, toAppError } from './render.ts';
import { resetSecurityHeaders, setSecurityHeaders } from './securityHeaders.ts';
import { requestLineWriter } from '../logging.ts';
import { errorDialect, type ErrorDialect, type ErrorRenderer } from './errorFormat.ts';
import type { UnmatchedFormat } from './unmatchedFormat.ts';

export interface AppParts {
  config: KernelConfig;
  logger: Logger;
  ids: IdGenerator;
  router: Router;
  /** Root routes that are not in any contract (openapi.json, docs). */
  extraRoutes: (ctx: Context) => boolean | Promise<boolean>;
  /** Cheap check that a path may be one of the extra routes. */
  isExtraRoute: (path: string) => boolean;
  /** Runs around each request, e.g. a telemetry span; must call next. */
  around?: (ctx: Context, next: Next) => Promise<void>;
  /**
   * Middleware between CORS/compression and the root and contract routes: GET /metrics when metrics are on
   * (kernel/boot.ts). Authentication, rate limiting and validation run per route (kernel/http/routes.ts).
   */
  before?: Array<(ctx: Context, next: Next) => Promise<void>>;
  /** Called at the start of each request when anything observes requests (observers, metrics); absent otherwise. */
  watch?: (ctx: Context, startedAt: number) => void;
  /** operationId -> its `x-error-format` renderer: a 405 on that operation's path is answered in it. */
  errorFormats?: Map<string, ErrorRenderer>;
  /** The format of a 404 for a path that matches no operation, when a plugin claims its prefix. */
  unmatchedFormat?: UnmatchedFormat;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request pipeline: security headers, request id + log, error boundary (+ `around`) ->
 * CORS, compression -> `before` -> root routes (docs, openapi.json) -> contract routes, each of
 * which authenticates, rate-limits and validates -> 404/405 in the one error format.
 */
export function createApp(parts: AppParts): Koa {
  const { config, logger, ids, router } = parts;
  const app = new Koa({ proxy: config.server.trustProxy });
  const envelope = errorDialect(config);
  const line = config.log.requests ? requestLineWriter(logger) : undefined;
  const watch = parts.watch;

  // One outermost middleware: security headers, request id, error boundary, request line.
  app.use(async function requestBoundary(ctx: Context, next: Next) {
    const res = ctx.res;
    const secure = setSecurityHeaders(ctx);
    const started = performance.now();
    if (watch) watch(ctx, started);
    const incoming = ctx.req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && incoming && REQUEST_ID.test(incoming) ? incoming : ids.next();
    ctx.state.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    try {
      await (parts.around ? parts.around(ctx, next) : next());
      if (ctx.response.body === undefined && ctx.response.status === 404) {
        notFoundOr405(ctx, router, envelope, parts.errorFormats, parts.unmatchedFormat);
      }
    } catch (err) {
      const { error, unexpected } = toAppError(err);
      if (unexpected) logger.error({ err, requestId, operationId: ctx.state.operationId }, 'request failed');
      renderError(ctx, error, envelope);
    }
    if (!res.headersSent) resetSecurityHeaders(ctx, secure);
    if (line) {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      const request = ctx.request;
      line(requestId, request.method, ctx.state.operationId ?? request.path.slice(0, 200), ctx.response.status, ms);
    }
  });

  if (config.server.cors.enabled) {
    const origins = config.server.cors.origins;
    app.use(
      cors({
        origin: origins.includes('*')
          ? '*'
          : (ctx: Context) => (origins.includes(ctx.get('origin')) ? ctx.get('origin') : ''),
        // Never with "*": @koa/cors would then reflect any Origin with credentials (config validation refuses it too).
        credentials: config.server.cors.credentials && !origins.includes('*'),
        maxAge: config.server.cors.maxAgeSeconds,
        keepHeadersOnError: false,
        exposeHeaders: [
          'X-Request-Id',
          'Retry-After',
          'X-RateLimit-Limit',
          'X-RateLimit-Remaining',
          'X-RateLimit-Reset',
          'X-RateLimit-RetryAfter',
          'X-RateLimit-Warning',
          'RateLimit',
          'RateLimit-Policy',
          'Idempotent-Replayed',
        ],
      }),
    );
  }
  if (config.server.compression.enabled) {
    const threshold = config.server.compression.thresholdBytes;
    const compression = compress({
      threshold,
      br: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
      gzip: { level: 6 },
      deflate: false,
    });
    // koa-compress's own checks run only for a body it may compress: one below the threshold (most API answers)
    // is left as it would leave it, with the same `Vary: Accept-Encoding` (it adds it before anything else).
    app.use(async function compressLarge(ctx: Context, next: Next) {
      ctx.vary('Accept-Encoding');
      await next();
      if (threshold > 0 && ctx.compress === undefined && belowThreshold(ctx.response, threshold)) return;
      await compression(ctx, noNext);
    });
  }
  for (const mw of parts.before ?? []) app.use(mw);
  // Root routes that are not in any contract (docs, openapi.json), then the contract routes.
  const routes = router.routes() as unknown as (ctx: Context, next: Next) => Promise<unknown>;
  app.use(function contractAndRootRoutes(ctx: Context, next: Next) {
    if (!parts.isExtraRoute(ctx.path)) return routes(ctx, next);
    return Promise.resolve(parts.extraRoutes(ctx)).then((served) => (served ? undefined : routes(ctx, next)));
  });
  app.on('error', (err: NodeJS.ErrnoException) => {
    // A client that leaves a streamed response (SSE, a download) early is not a server error.
    if (err?.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    logger.error({ err }, 'koa error');
  });
  return app;
}

/** A body koa-compress leaves alone for its size: none, or a string or buffer shorter than `threshold` bytes. */
function belowThreshold(response: Context['response'], threshold: number): boolean {
  const body: unknown = response.body;
  if (body === undefined || body === null || body === '') return true;
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) return false;
  const length = response.length;
  return typeof length === 'number' && length < threshold;
}

const noNext = () => Promise.resolve();

function notFoundOr405(ctx: Context, router: Router, envelope: ErrorDialect, formats?: Map<string, ErrorRenderer>,
  unmatched?: UnmatchedFormat) {
  const match = router.match(ctx.path, ctx.method);
  if (match.path.length && !match.pathAndMethod.length) {
    const format = formats?.size ? match.path.map((l) => formats.get(l.name ?? '')).find(Boolean) : undefined;
    if (format) ctx.state.errorFormat = format;
    const allowed = [...new Set(match.path.flatMap((layer) => layer.methods))];
    renderError(
      ctx,
      new AppError(405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed here`, {
        details: { allowed },
        headers: { Allow: allowed.join(', ') },
      }),
      envelope,
    );
    return;
  }
  const format = unmatched?.(ctx.path);
  if (format) ctx.state.errorFormat = format;
  renderError(ctx, new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path.slice(0, 200)}`), envelope);
}
