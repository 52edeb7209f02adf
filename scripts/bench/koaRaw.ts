/**
 * Baseline 1: bare Koa 3 + @koa/router with the raw driver and jose, doing by hand what the
 * kernel does on the benchmarked routes: request id (echoed), one pino line per request
 * (the kernel's buffered destination, or none with logs off), an error boundary writing the
 * same error JSON, @koa/cors and koa-compress with the kernel's defaults, a GCRA rate limit
 * per user with the kernel's headers (not on /health), koa-body + ajv on POST, and the
 * bearer check (rawAuth.ts) on every notes and users/me request.
 */
import { constants as zlib } from 'node:zlib';
import Koa, { type Context, type Next } from 'koa';
import { Router } from '@koa/router';
import cors from '@koa/cors';
import compress from 'koa-compress';
import { koaBody } from 'koa-body';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { v7 as uuidv7 } from 'uuid';
import type { Logger } from 'pino';
import { BareRateLimiter } from './rateLimit.ts';
import { RawAuth, RawAuthError, type RawPrincipal } from './rawAuth.ts';
import type { NoteInput, RawStore } from './rawStore.ts';
import {
  EXPOSED_HEADERS,
  REQUEST_ID,
  UUID,
  errorBody,
  healthBody,
  noteCreateSchema,
  ratePolicy,
} from './peerShared.ts';
import { RATE_LIMIT_ON } from './shared.ts';

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}
const ID = new RegExp(UUID);

export function createKoaRaw(store: RawStore, auth: RawAuth, logger: Logger | undefined): Koa {
  const startedAt = Date.now();
  const limiter = RATE_LIMIT_ON ? new BareRateLimiter() : undefined;
  const ajv = new Ajv2020({ allErrors: true, strict: false, coerceTypes: false, useDefaults: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  const validateNote = ajv.compile<NoteInput>(noteCreateSchema());
  const parseJson = koaBody({
    json: true,
    urlencoded: false,
    text: false,
    multipart: false,
    jsonLimit: 1048576,
    jsonStrict: false,
    patchNode: false,
    patchKoa: true,
  });

  const app = new Koa();
  app.use(async function boundary(ctx: Context, next: Next) {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : uuidv7();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
      if (ctx.body === undefined && ctx.status === 404)
        throw new HttpError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path.slice(0, 200)}`);
    } catch (err) {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof RawAuthError
            ? new HttpError(err.status, err.code, err.message)
            : (err as { status?: number }).status === 400
              ? new HttpError(400, 'MALFORMED_JSON', 'The request body is not valid JSON')
              : new HttpError(500, 'INTERNAL_ERROR', 'An unexpected error occurred');
      if (e.status >= 500) logger?.error({ err, requestId }, 'request failed');
      ctx.status = e.status;
      ctx.body = errorBody(requestId, e.code, e.message, e.details);
    }
    logger?.info(
      {
        requestId,
        method: ctx.method,
        route: ctx.state.route ?? ctx.path.slice(0, 200),
        status: ctx.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      'request',
    );
  });
  app.use(
    cors({ origin: '*', credentials: false, maxAge: 600, keepHeadersOnError: false, exposeHeaders: EXPOSED_HEADERS }),
  );
  app.use(
    compress({
      threshold: 1024,
      br: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
      gzip: { level: 6 },
      deflate: false,
    }),
  );

  const authed = async (ctx: Context, permission: string): Promise<RawPrincipal> => {
    const principal = await auth.authenticate(ctx.get('authorization') || undefined, permission);
    if (limiter && limiter.check(ctx, `user:${principal.id}`, ratePolicy(principal.tier)))
      throw new HttpError(429, 'RATE_LIMITED', 'Too many requests');
    return principal;
  };
  const router = new Router();
  router.get('/health', (ctx) => { ctx.state.route = 'system.health'; ctx.body = healthBody(startedAt); });
  router.get('/v1/users/me', async (ctx) => {
    ctx.state.route = 'identity.me';
    const p = await authed(ctx, 'profile:read');
    const user = await store.user(p.id);
    if (!user) throw new HttpError(404, 'NOT_FOUND', 'User not found');
    ctx.body = user;
  });
  router.get('/v1/notes/:id', async (ctx) => {
    ctx.state.route = 'notes.get';
    const p = await authed(ctx, 'notes:read');
    if (!ID.test(ctx.params.id))
      throw new HttpError(400, 'VALIDATION_ERROR', 'The request is invalid', [
        { field: 'path.id', message: 'must match format "uuid"', code: 'format' },
      ]);
    const note = await store.note(p.id, ctx.params.id);
    if (!note) throw new HttpError(404, 'NOT_FOUND', `Note ${ctx.params.id} not found`);
    ctx.body = note;
  });
  router.get('/v1/notes', async (ctx) => {
    ctx.state.route = 'notes.list';
    const p = await authed(ctx, 'notes:read');
    const limit = ctx.query.limit === undefined ? 20 : Number(ctx.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new HttpError(400, 'VALIDATION_ERROR', 'The request is invalid', [
        { field: 'query.limit', message: 'must be <= 100', code: 'maximum' },
      ]);
    const page = await store.notes(p.id, limit);
    ctx.body = { data: page.data, pagination: { limit, nextCursor: page.nextCursor } };
  });
  router.post(
    '/v1/notes',
    async (ctx, next) => {
      ctx.state.route = 'notes.create';
      ctx.state.principal = await authed(ctx, 'notes:write');
      return next();
    },
    parseJson,
    async (ctx) => {
      if (!ctx.is('application/json'))
        throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
      const body = ctx.request.body as unknown;
      if (!validateNote(body))
        throw new HttpError(400, 'VALIDATION_ERROR', 'The request is invalid', validateNote.errors);
      ctx.status = 201;
      ctx.body = await store.insertNote((ctx.state.principal as RawPrincipal).id, body);
    },
  );
  app.use(router.routes());
  app.on('error', (err) => logger?.error({ err }, 'koa error'));
  return app;
}
