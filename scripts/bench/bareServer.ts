/**
 * The bare side: Koa 3 + @koa/router doing by hand what the kernel does for the benchmarked
 * routes — request id (echoed), one pino info line per request, an error boundary that
 * writes the same error JSON, the same CORS and compression middleware with the kernel's
 * default options, a per-IP / per-user GCRA rate limit with the kernel's headers (not on
 * /health, which the kernel exempts; BENCH_RATE_LIMIT=off: none), and per suite:
 *   basic     GET /health; POST /v1/bench/items: koa-body for JSON, ajv (compiled once) on the
 *             same schema, a UUIDv7-keyed in-memory store.
 *   identity  GET /health; GET /v1/users/me: RS256 JWT verified with jose, revoked-session
 *             lookup, permission check, the user row read through MikroORM (scripts/bench/bareIdentity.ts).
 *             The router holds the same route table as the kernel's (the system and identity
 *             contracts' paths and methods, in contract order); the routes not benchmarked answer 501.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { constants as zlib } from 'node:zlib';
import Koa, { type Context, type Next } from 'koa';
import { Router } from '@koa/router';
import cors from '@koa/cors';
import compress from 'koa-compress';
import { koaBody } from 'koa-body';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { v7 as uuidv7 } from 'uuid';
import { parse as parseYaml } from 'yaml';
import { CONTRACTS_DIR, VERSION } from '../paths.ts';
import { BareRateLimiter, type BareRateLimitPolicy } from './rateLimit.ts';
import { AuthError, BareIdentity } from './bareIdentity.ts';
import {
  benchItemCreateSchema,
  devNullLogger,
  ItemStore,
  RATE_LIMIT_ON,
  RATE_LIMIT_PER_WINDOW,
  RATE_LIMIT_TIER,
  RATE_LIMIT_WINDOW_MS,
  type BenchItemInput,
  type ReadyMessage,
  type Suite,
} from './shared.ts';

const NAME = 'api-kernel';
const HEALTH_PATH = '/health';
const POST_PATH = '/v1/bench/items';
const ME_PATH = '/v1/users/me';
const BASE_PATH = '/v1';
const BODY_LIMIT = 1048576;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

function details(errors: ErrorObject[] | null | undefined) {
  return (errors ?? []).map((e) => {
    const segments = e.instancePath.split('/').slice(1);
    if (e.keyword === 'required') segments.push((e.params as { missingProperty: string }).missingProperty);
    if (e.keyword === 'additionalProperties')
      segments.push((e.params as { additionalProperty: string }).additionalProperty);
    return {
      field: ['body', ...segments].join('.'),
      message: e.keyword === 'additionalProperties' ? 'is not allowed' : (e.message ?? 'is invalid'),
      code: e.keyword,
    };
  });
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { status?: number; type?: string; expose?: boolean; message?: string };
  if (e?.status === 413) return new HttpError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large');
  if (e?.type === 'entity.parse.failed')
    return new HttpError(400, 'MALFORMED_JSON', 'The request body is not valid JSON');
  if (e?.status === 415)
    return new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose)
    return new HttpError(e.status, 'BAD_REQUEST', e.message ?? 'Bad request');
  return new HttpError(500, 'INTERNAL_ERROR', 'An unexpected error occurred');
}

function sendError(ctx: Context, error: HttpError) {
  ctx.status = error.status;
  if (error.headers) for (const [k, v] of Object.entries(error.headers)) ctx.set(k, v);
  ctx.body = {
    error: {
      code: error.code,
      message: error.message,
      details: error.details,
      requestId: ctx.state.requestId as string,
      timestamp: new Date().toISOString(),
    },
  };
}

/** Per-request rate limiting by hand: one GCRA check, the kernel's headers, 429 when refused. */
function rateLimiter() {
  const limiter = new BareRateLimiter();
  return (ctx: Context, principal?: { id: string; tier: string }) => {
    const tier = principal?.tier ?? RATE_LIMIT_TIER;
    const policy: BareRateLimitPolicy = { name: tier, limit: RATE_LIMIT_PER_WINDOW, windowMs: RATE_LIMIT_WINDOW_MS };
    const refused = limiter.check(ctx, principal ? `user:${principal.id}` : `ip:${ctx.ip}`, policy);
    if (refused) {
      throw new HttpError(
        429,
        'RATE_LIMITED',
        `Too many requests: retry in ${refused.retryAfterSeconds} s`,
        { retry_after: refused.retryAfterSeconds, limit: refused.limit, window_seconds: refused.windowSeconds },
        { 'Retry-After': String(refused.retryAfterSeconds) },
      );
    }
  };
}

/** The kernel's route table for these contracts: [method, koa path] in contract order. */
function contractRoutes(files: string[]): Array<[string, string, string]> {
  const routes: Array<[string, string, string]> = [];
  for (const file of files) {
    const doc = parseYaml(readFileSync(resolve(CONTRACTS_DIR, file), 'utf8')) as {
      paths: Record<string, Record<string, { operationId?: string }> & { 'x-root'?: boolean }>;
    };
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      const prefix = file === 'system.yaml' || item['x-root'] ? '' : BASE_PATH;
      for (const method of ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']) {
        const op = item[method] as { operationId?: string } | undefined;
        if (op?.operationId) routes.push([method.toUpperCase(), `${prefix}${path}`.replace(/\{([^}]+)\}/g, ':$1'), op.operationId]);
      }
    }
  }
  return routes;
}

export function createBareApp(suite: Suite, identity?: BareIdentity): Koa {
  const logger = devNullLogger();
  const startedAt = Date.now();
  const limit = RATE_LIMIT_ON ? rateLimiter() : undefined;

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
        sendError(ctx, new HttpError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path.slice(0, 200)}`));
    } catch (err) {
      const error = toHttpError(err);
      if (error.status >= 500) logger.error({ err, requestId }, 'request failed');
      sendError(ctx, error);
    }
    logger.info(
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
    cors({
      origin: '*',
      credentials: false,
      maxAge: 600,
      exposeHeaders: [
        'X-Request-Id',
        'Retry-After',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'X-RateLimit-Reset',
        'RateLimit',
        'RateLimit-Policy',
      ],
    }),
  );
  app.use(
    compress({
      threshold: 1024,
      br: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
      gzip: { level: 6 },
      deflate: false,
    }),
  );

  const health = (ctx: Context) => {
    ctx.state.route = 'system.health';
    ctx.body = { status: 'ok', name: NAME, version: VERSION, uptimeSeconds: (Date.now() - startedAt) / 1000 };
  };
  const router = new Router();
  if (suite === 'basic') {
    const ajv = new Ajv2020({ allErrors: true, strict: false, coerceTypes: false, useDefaults: true });
    const validate = ajv.compile<BenchItemInput>(benchItemCreateSchema());
    const store = new ItemStore(() => uuidv7());
    const parseJson = koaBody({
      json: true,
      urlencoded: false,
      text: false,
      multipart: false,
      jsonLimit: BODY_LIMIT,
      jsonStrict: false,
      patchNode: false,
      patchKoa: true,
    });
    router.get(HEALTH_PATH, health);
    router.post(
      POST_PATH,
      (ctx, next) => { limit?.(ctx); return next(); },
      parseJson,
      (ctx) => {
        ctx.state.route = 'bench.createItem';
        if (!ctx.is('application/json'))
          throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
        const body = ctx.request.body as unknown;
        if (!validate(body))
          throw new HttpError(400, 'VALIDATION_ERROR', 'The request is invalid', details(validate.errors));
        ctx.status = 201;
        ctx.body = store.create(body);
      },
    );
  } else {
    if (!identity) throw new Error('the identity suite needs BareIdentity');
    const me = async (ctx: Context) => {
      ctx.state.route = 'identity.me';
      let principal;
      try {
        principal = await identity.authenticate(ctx.get('authorization') || undefined);
      } catch (e) {
        if (e instanceof AuthError) throw new HttpError(401, e.code, e.message, null, { 'WWW-Authenticate': 'Bearer' });
        throw e;
      }
      if (!principal.permissions.includes('profile:read'))
        throw new HttpError(403, 'FORBIDDEN', 'You do not have permission to do this', { required: ['profile:read'] });
      limit?.(ctx, principal);
      const view = await identity.me(principal.id);
      if (!view) throw new HttpError(404, 'NOT_FOUND', 'User not found');
      ctx.body = view;
    };
    const notImplemented = (operationId: string) => (ctx: Context) => {
      ctx.state.route = operationId;
      throw new HttpError(501, 'NOT_IMPLEMENTED', `${operationId} is not part of the benchmark`);
    };
    for (const [method, path, operationId] of contractRoutes(['system.yaml', 'identity.yaml'])) {
      const handler =
        operationId === 'system.health' ? health : operationId === 'identity.me' ? me : notImplemented(operationId);
      router.register(path, [method], handler, { name: operationId });
    }
  }
  app.use(router.routes());
  app.on('error', (err) => logger.error({ err }, 'koa error'));
  return app;
}

export async function startBare(
  suite: Suite,
): Promise<{ ready: Omit<ReadyMessage, 'kind' | 'pid'>; close(): Promise<void> }> {
  const identity = suite === 'identity' ? await BareIdentity.start() : undefined;
  const app = createBareApp(suite, identity);
  const server: Server = createServer({ maxHeaderSize: 16384 }, app.callback());
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const notes = [
    `rate limit: ${RATE_LIMIT_ON ? `GCRA by hand, ${RATE_LIMIT_PER_WINDOW} per ${RATE_LIMIT_WINDOW_MS / 1000} s per IP / user, not on /health` : 'none (BENCH_RATE_LIMIT=off)'}`,
  ];
  return {
    ready:
      suite === 'basic'
        ? { suite, port, healthPath: HEALTH_PATH, postPath: POST_PATH, notes }
        : { suite, port, healthPath: HEALTH_PATH, mePath: ME_PATH, token: identity!.token, notes },
    close: async () => {
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      await identity?.close();
    },
  };
}
