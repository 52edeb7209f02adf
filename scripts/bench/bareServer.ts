/**
 * The bare side: Koa 3 + @koa/router doing by hand what the kernel does for these two
 * routes — request id (echoed), one pino info line per request, an error boundary that
 * writes the same error JSON, the same CORS and compression middleware with the kernel's
 * default options, koa-body for JSON, ajv (compiled once) on the same schema, and a
 * UUIDv7-keyed in-memory store.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants as zlib } from 'node:zlib';
import Koa, { type Context, type Next } from 'koa';
import { Router } from '@koa/router';
import cors from '@koa/cors';
import compress from 'koa-compress';
import { koaBody } from 'koa-body';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { v7 as uuidv7 } from 'uuid';
import { VERSION } from '../paths.ts';
import { benchItemCreateSchema, devNullLogger, ItemStore, type BenchItemInput, type ReadyMessage } from './shared.ts';

const NAME = 'api-kernel';
const HEALTH_PATH = '/health';
const POST_PATH = '/v1/bench/items';
const BODY_LIMIT = 1048576;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: unknown = null) { super(message); }
}

function details(errors: ErrorObject[] | null | undefined) {
  return (errors ?? []).map((e) => {
    const segments = e.instancePath.split('/').slice(1);
    if (e.keyword === 'required') segments.push((e.params as { missingProperty: string }).missingProperty);
    if (e.keyword === 'additionalProperties') segments.push((e.params as { additionalProperty: string }).additionalProperty);
    return { field: ['body', ...segments].join('.'), message: e.keyword === 'additionalProperties' ? 'is not allowed' : e.message ?? 'is invalid', code: e.keyword };
  });
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { status?: number; type?: string; expose?: boolean; message?: string };
  if (e?.status === 413) return new HttpError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large');
  if (e?.type === 'entity.parse.failed') return new HttpError(400, 'MALFORMED_JSON', 'The request body is not valid JSON');
  if (e?.status === 415) return new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The request body encoding is not supported');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose) return new HttpError(e.status, 'BAD_REQUEST', e.message ?? 'Bad request');
  return new HttpError(500, 'INTERNAL_ERROR', 'An unexpected error occurred');
}

function sendError(ctx: Context, error: HttpError) {
  ctx.status = error.status;
  ctx.body = { error: { code: error.code, message: error.message, details: error.details, requestId: ctx.state.requestId as string, timestamp: new Date().toISOString() } };
}

export function createBareApp(): Koa {
  const logger = devNullLogger();
  const startedAt = Date.now();
  const ajv = new Ajv2020({ allErrors: true, strict: false, coerceTypes: false, useDefaults: true });
  const validate = ajv.compile<BenchItemInput>(benchItemCreateSchema());
  const store = new ItemStore(() => uuidv7());

  const app = new Koa();
  app.use(async function boundary(ctx: Context, next: Next) {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : uuidv7();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
      if (ctx.body === undefined && ctx.status === 404) sendError(ctx, new HttpError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path.slice(0, 200)}`));
    } catch (err) {
      const error = toHttpError(err);
      if (error.status >= 500) logger.error({ err, requestId }, 'request failed');
      sendError(ctx, error);
    }
    logger.info({ requestId, method: ctx.method, route: ctx.state.route ?? ctx.path.slice(0, 200), status: ctx.status, ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
  });
  app.use(cors({
    origin: '*',
    credentials: false,
    maxAge: 600,
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit', 'RateLimit-Policy'],
  }));
  app.use(compress({ threshold: 1024, br: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } }, gzip: { level: 6 }, deflate: false }));

  const router = new Router();
  router.get(HEALTH_PATH, (ctx) => {
    ctx.state.route = 'system.health';
    ctx.body = { status: 'ok', name: NAME, version: VERSION, uptimeSeconds: (Date.now() - startedAt) / 1000 };
  });
  router.post(
    POST_PATH,
    koaBody({ json: true, urlencoded: false, text: false, multipart: false, jsonLimit: BODY_LIMIT, jsonStrict: false, patchNode: false, patchKoa: true }),
    (ctx) => {
      ctx.state.route = 'bench.createItem';
      if (!ctx.is('application/json')) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json');
      const body = ctx.request.body as unknown;
      if (!validate(body)) throw new HttpError(400, 'VALIDATION_ERROR', 'The request is invalid', details(validate.errors));
      ctx.status = 201;
      ctx.body = store.create(body);
    },
  );
  app.use(router.routes());
  app.on('error', (err) => logger.error({ err }, 'koa error'));
  return app;
}

export async function startBare(): Promise<{ ready: Omit<ReadyMessage, 'kind' | 'pid'>; close(): Promise<void> }> {
  const app = createBareApp();
  const server: Server = createServer({ maxHeaderSize: 16384 }, app.callback());
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const { port } = server.address() as AddressInfo;
  return {
    ready: { port, healthPath: HEALTH_PATH, postPath: POST_PATH },
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
