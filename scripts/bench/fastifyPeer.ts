/**
 * Baseline 2: Fastify 5 doing the same work its own way: JSON Schema validation (ajv, built
 * in) and serialization (fast-json-stringify) from the contract's schemas, @fastify/cors,
 * request ids (X-Request-Id accepted or a UUIDv7, echoed), pino logging with one line per
 * request (the kernel's buffered destination; Fastify's two default lines are replaced by the
 * kernel's one), the same GCRA limiter and headers, the same bearer check and raw driver.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
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

const NOTE = {
  type: 'object',
  required: ['id', 'title', 'body', 'pinned', 'tags', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string' },
    title: { type: 'string' },
    body: { type: 'string' },
    pinned: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;
const USER = {
  type: 'object',
  properties: Object.fromEntries(
    ['id', 'email', 'name', 'role', 'status', 'tier', 'createdAt', 'updatedAt']
      .map((k) => [k, { type: 'string' }])
      .concat([
        ['emailVerified', { type: 'boolean' }],
        ['mfaEnabled', { type: 'boolean' }],
      ] as never),
  ),
} as const;
const ERROR = { type: 'object', additionalProperties: true } as const;

export async function createFastifyPeer(
  store: RawStore,
  auth: RawAuth,
  logger: Logger | undefined,
): Promise<FastifyInstance> {
  const startedAt = Date.now();
  const limiter = RATE_LIMIT_ON ? new BareRateLimiter() : undefined;
  const app = Fastify({
    loggerInstance: logger,
    disableRequestLogging: true,
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : uuidv7();
    },
    ajv: { customOptions: { allErrors: true, coerceTypes: true, useDefaults: true, removeAdditional: false } },
    bodyLimit: 1048576,
  });
  await app.register(cors, { origin: '*', maxAge: 600, exposedHeaders: EXPOSED_HEADERS });
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('X-Request-Id', req.id);
    done();
  });
  if (logger) {
    app.addHook('onResponse', (req, reply, done) => {
      logger.info(
        {
          requestId: req.id,
          method: req.method,
          route: (req.routeOptions.config as { operationId?: string }).operationId ?? req.url.slice(0, 200),
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request',
      );
      done();
    });
  }
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, req, reply) => {
    if (err instanceof RawAuthError) return reply.status(err.status).send(errorBody(req.id, err.code, err.message));
    if (err.validation)
      return reply.status(400).send(errorBody(req.id, 'VALIDATION_ERROR', 'The request is invalid', err.validation));
    if (err.statusCode && err.statusCode < 500)
      return reply.status(err.statusCode).send(errorBody(req.id, err.code ?? 'BAD_REQUEST', err.message));
    logger?.error({ err, requestId: req.id }, 'request failed');
    return reply.status(500).send(errorBody(req.id, 'INTERNAL_ERROR', 'An unexpected error occurred'));
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send(errorBody(req.id, 'NOT_FOUND', `No route for ${req.method} ${req.url.slice(0, 200)}`)),
  );

  const headerShim = (reply: FastifyReply) => ({
    set: (k: string, v: string) => {
      reply.header(k, v);
    },
  });
  const authed = (permission: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = await auth.authenticate(req.headers.authorization, permission);
    if (limiter && limiter.check(headerShim(reply) as never, `user:${principal.id}`, ratePolicy(principal.tier))) {
      throw Object.assign(new Error('Too many requests'), { statusCode: 429, code: 'RATE_LIMITED' });
    }
    (req as FastifyRequest & { principal: RawPrincipal }).principal = principal;
  };
  const principalOf = (req: FastifyRequest) => (req as FastifyRequest & { principal: RawPrincipal }).principal;

  app.get('/health', { config: { operationId: 'system.health' } }, async () => healthBody(startedAt));
  app.get(
    '/v1/users/me',
    {
      config: { operationId: 'identity.me' },
      preHandler: authed('profile:read'),
      schema: { response: { 200: USER, '4xx': ERROR } },
    },
    async (req, reply) => {
      const user = await store.user(principalOf(req).id);
      return user ?? reply.status(404).send(errorBody(req.id, 'NOT_FOUND', 'User not found'));
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/notes/:id',
    {
      config: { operationId: 'notes.get' },
      preHandler: authed('notes:read'),
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: UUID } }, required: ['id'] },
        response: { 200: NOTE, '4xx': ERROR },
      },
    },
    async (req, reply) => {
      const note = await store.note(principalOf(req).id, req.params.id);
      return note ?? reply.status(404).send(errorBody(req.id, 'NOT_FOUND', `Note ${req.params.id} not found`));
    },
  );
  app.get<{ Querystring: { limit: number } }>(
    '/v1/notes',
    {
      config: { operationId: 'notes.list' },
      preHandler: authed('notes:read'),
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 }, cursor: { type: 'string' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              data: { type: 'array', items: NOTE },
              pagination: {
                type: 'object',
                properties: { limit: { type: 'integer' }, nextCursor: { type: ['string', 'null'] } },
              },
            },
          },
        },
      },
    },
    async (req) => {
      const page = await store.notes(principalOf(req).id, req.query.limit);
      return { data: page.data, pagination: { limit: req.query.limit, nextCursor: page.nextCursor } };
    },
  );
  app.post<{ Body: NoteInput }>(
    '/v1/notes',
    {
      config: { operationId: 'notes.create' },
      preHandler: authed('notes:write'),
      schema: { body: noteCreateSchema(), response: { 201: NOTE, '4xx': ERROR } },
    },
    async (req, reply) => reply.status(201).send(await store.insertNote(principalOf(req).id, req.body)),
  );
  return app as unknown as FastifyInstance;
}
