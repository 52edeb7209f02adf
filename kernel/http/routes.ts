import type { Context } from 'koa';
import { Router } from '@koa/router';
import { koaBody } from 'koa-body';
import type { MikroORM } from '@mikro-orm/core';
import { AppError, errors } from '../errors.ts';
import type { Handler, HandlerRequest } from '../plugin.ts';
import type { OperationEntry } from './contracts.ts';
import { RouteTable } from './routeTable.ts';
import { ContractValidator, toDetails, type OperationValidators } from './validation.ts';
import { HttpRequestContext, type PluginRuntime } from './requestContext.ts';
import { jsonBodyAsText, renderResult, type Envelope } from './render.ts';
import { compileGuard, operationSecurity, type SecurityRequirement } from './security.ts';
import { compileRateLimit } from './rateLimit.ts';
import { AuthFailureBudget } from './authFailures.ts';
import type { Authenticator } from '../plugin.ts';
import type { RateLimiter } from '../ports/rateLimiter.ts';
import type { KernelConfig } from '../config/schema.ts';
import { isIdempotent, type IdempotentRunner } from './idempotency.ts';
import type { OperationDialect } from './dialect.ts';
import { renameKeys, translate, type KeyPlan } from './casing.ts';
import { wireFieldNames, type ErrorRenderer } from './errorFormat.ts';
import { isReply } from '../plugin.ts';
import { pageRequest } from '../paging.ts';
import { takeDeferredCheck } from './deferredChecks.ts';
import type { FastReadPath } from '../storage/fastReads.ts';
import type { CredentialDefinition } from './principalTypes.ts';

export interface RouteOptions {
  envelope: Envelope;
  /** Authenticators by security scheme name, from the plugins that provide them. */
  schemes: Map<string, Authenticator>;
  documentSecurity?: SecurityRequirement[];
  rateLimit?: { limiter: RateLimiter; config: KernelConfig['rateLimit'] };
  bodyLimitBytes: number;
  validateResponses: boolean;
  orm?: MikroORM;
  /** Idempotency-Key handling for operations marked `x-idempotent: true`. */
  idempotency?: IdempotentRunner;
  /** Per operationId: success message, paging, casing plans (kernel/http/dialect.ts). */
  dialects?: Map<string, OperationDialect>;
  pagination?: 'cursor' | 'page';
  fastReads?: FastReadPath;
  /** The enabled plugins' credential types (their `refusal`s answer `x-principal` misses). */
  credentials?: Map<string, CredentialDefinition>;
  /** Plugin-registered error formats by name, for operations with `x-error-format` (kernel/http/errorFormat.ts). */
  errorFormats?: Map<string, ErrorRenderer>;
}

export interface BoundOperation {
  entry: OperationEntry;
  handler: Handler;
  runtime: PluginRuntime;
}

/** `/notes/{id}` -> `/notes/:id` */
export function toRouterPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}

/**
 * Registers one route per contract operation. Everything a request needs (validators,
 * body parser, handler, default status) is resolved here, once, at boot.
 */
export function buildRouter(validator: ContractValidator, bound: BoundOperation[], options: RouteOptions): Router {
  const router = new Router();
  const rl = options.rateLimit;
  const failures = rl ? new AuthFailureBudget(rl.limiter, rl.config.authFailures) : undefined;
  const routes: Array<{ op: BoundOperation; route: ReturnType<typeof compileRoute> }> = [];
  for (const op of bound) {
    const route = compileRoute(validator, op, options, failures);
    routes.push({ op, route });
    router.register(toRouterPath(op.entry.path), [op.entry.method.toUpperCase()], route, {
      name: op.entry.operationId,
    });
  }
  return withStaticRoutes(router, routes);
}

/**
 * A path without parameters is looked up in a map by method and exact path, a path with
 * parameters in a table of the contract's templates (kernel/http/routeTable.ts), before
 * @koa/router's scan of every layer (a regexp per operation). Only where the router itself
 * would pick that operation first, so every answer is the router's: other spellings (case,
 * trailing slash), 404 and 405 still go through it.
 */
function withStaticRoutes(router: Router, routes: Array<{ op: BoundOperation; route: Middleware }>): Router {
  const statics = new Map<string, Map<string, { route: Middleware; path: string; name: string }>>();
  for (const { op, route } of routes) {
    const path = op.entry.path;
    if (path.includes('{')) continue;
    const method = op.entry.method.toUpperCase();
    for (const m of method === 'GET' ? ['GET', 'HEAD'] : [method]) {
      const first = router.match(path, m).pathAndMethod.find((layer) => layer.methods.length > 0);
      let byPath = statics.get(m);
      if (!byPath) statics.set(m, (byPath = new Map()));
      if (first?.name === op.entry.operationId && !byPath.has(path)) {
        byPath.set(path, { route, path: first.path as string, name: op.entry.operationId });
      }
    }
  }
  const table = new RouteTable(router);
  const scan = router.routes();
  const routes_ = function contractRoutes(ctx: Context, next: () => Promise<unknown>) {
    const method = ctx.req.method!;
    const path = ctx.request.path;
    const state = ctx as Context & { _matchedRoute?: string; _matchedRouteName?: string };
    const hit = statics.get(method)?.get(path);
    if (hit) {
      ctx.params = {};
      state._matchedRoute = hit.path;
      state._matchedRouteName = hit.name;
      return hit.route(ctx, next);
    }
    const found = table.match(method, path);
    if (!found) return scan(ctx as never, next);
    ctx.params = found.params;
    state._matchedRoute = found.layer.path as string;
    state._matchedRouteName = found.layer.name;
    return (found.layer.stack[0] as Middleware)(ctx, next);
  };
  router.routes = () => routes_ as never;
  return router;
}

type Request = HandlerRequest<unknown, Record<string, unknown>, Record<string, unknown>>;
type Middleware = (ctx: Context, next: () => Promise<unknown>) => Promise<unknown> | unknown;

function compileRoute(
  validator: ContractValidator,
  op: BoundOperation,
  options: RouteOptions,
  failures?: AuthFailureBudget,
) {
  const { entry, handler, runtime } = op;
  const v: OperationValidators = validator.compile(entry, options.validateResponses);
  const mediaTypes = v.body ? [...v.body.keys()] : [];
  // `x-raw-body: true`: signatures (webhooks) cover the bytes as sent, not the parsed JSON.
  const keepRaw = entry.operation['x-raw-body'] === true;
  const parser = v.body
    ? koaBody({
        json: true,
        urlencoded: mediaTypes.includes('application/x-www-form-urlencoded'),
        text: false,
        multipart: false,
        jsonLimit: options.bodyLimitBytes,
        formLimit: options.bodyLimitBytes,
        jsonStrict: false,
        parsedMethods: ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'] as any,
        patchNode: false,
        patchKoa: true,
        includeUnparsed: keepRaw,
      })
    : undefined;
  const headerNames = entry.parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase());
  const successStatuses = Object.keys(entry.operation.responses ?? {})
    .filter((s) => /^2\d\d$/.test(s))
    .map(Number)
    .sort();
  const defaultStatus = successStatuses[0] ?? 200;
  const log = runtime.logger;
  // `x-sensitive: true`: the answer carries secrets (tokens, keys): never stored by a cache.
  const sensitive = entry.operation['x-sensitive'] === true;
  const security = operationSecurity(entry, options.documentSecurity);
  const guard = compileGuard(security, options.schemes, entry.operationId, options.credentials, failures);
  // `x-rate-limit: false` exempts an operation (health probes).
  const rateLimit =
    options.rateLimit && entry.operation['x-rate-limit'] !== false
      ? compileRateLimit(entry, options.rateLimit.limiter, options.rateLimit.config)
      : undefined;
  const idempotent = options.idempotency && isIdempotent(entry) ? options.idempotency : undefined;
  const dialect = options.dialects?.get(entry.operationId);
  const casing = dialect?.casing;
  const message = dialect?.message;
  const pagingStyle = dialect?.paging ? (options.pagination ?? 'cursor') : undefined;
  const errorFormat = errorFormatOf(entry.operationId, dialect?.errorFormat, options.errorFormats);
  const defaultPlan = casing?.responses.get(String(defaultStatus));

  return async function operation(ctx: Context) {
    ctx.state.operationId = entry.operationId;
    if (errorFormat) ctx.state.errorFormat = errorFormat;
    ctx.state.routeTemplate = entry.path;
    if (sensitive) ctx.state.sensitive = true;
    // ctx.request / ctx.req, not Koa's ctx delegates: one getter call less each, on every request.
    const headers = ctx.req.headers;
    const principal = guard ? await guard({ headers, ip: ctx.request.ip }) : undefined;
    if (principal) ctx.state.principal = principal;
    const deferred = takeDeferredCheck(principal);
    const limited = rateLimit?.(ctx, principal);
    // Both already run (one Redis round trip for both); the deferred (authentication) failure wins over a 429.
    if (limited) {
      try {
        await limited;
      } catch (e) {
        if (deferred) await deferred; // an authentication failure wins over the 429
        throw e;
      }
    }
    if (deferred) await deferred;
    const req: HandlerRequest<unknown, Record<string, unknown>, Record<string, unknown>> = {
      params: ctx.params ?? {},
      query: {},
      body: undefined,
      headers,
    };

    if (v.params && !v.params(req.params)) throw errors.validation(toDetails(v.params.errors, 'path'));
    if (v.query) {
      req.query = { ...ctx.query };
      if (!v.query(req.query)) throw errors.validation(toDetails(v.query.errors, 'query'));
    }
    if (casing) {
      if (casing.params.size) req.params = renameKeys(req.params, casing.params);
      if (casing.query.size) req.query = renameKeys(req.query, casing.query);
    }
    if (pagingStyle) req.paging = pageRequest(pagingStyle, req.query);
    if (v.headers) {
      const headers: Record<string, unknown> = {};
      for (const name of headerNames) if (ctx.headers[name] !== undefined) headers[name] = ctx.headers[name];
      if (!v.headers(headers)) throw errors.validation(toDetails(v.headers.errors, 'header'));
      req.headers = { ...ctx.headers, ...(headers as Record<string, string>) };
    }
    if (v.body) req.body = await readBody(ctx, v, mediaTypes, parser!);
    if (keepRaw) req.rawBody = (ctx.request as { rawBody?: string }).rawBody;
    if (casing?.body && req.body !== undefined) req.body = translate(req.body, casing.body, 'in');

    const rctx = new HttpRequestContext(
      ctx,
      ctx.state.requestId,
      entry.operationId,
      log,
      runtime,
      options.orm,
      options.fastReads,
    );
    rctx.principal = principal;
    // No closure named per request: under tsx (esbuild keepNames) each costs an Object.defineProperty.
    if (idempotent) {
      await idempotent(ctx, principal, req.body, () => respond(ctx, req, rctx));
      return;
    }
    // The common case inline (no extra async frame): handler, settle if it published, render.
    const pending = handler(req, rctx);
    let result: unknown;
    if (casing) {
      try {
        result = await pending;
      } catch (e) {
        throw wireFieldNames(e);
      }
    } else result = await pending;
    if (rctx.staged) await rctx.settle();
    finish(ctx, result);
    // Idempotent answers are stored as objects (below); sensitive ones get Cache-Control after this (app.ts).
    if (!sensitive) jsonBodyAsText(ctx);
  };

  async function respond(ctx: Context, req: Request, rctx: HttpRequestContext) {
    const pending = handler(req, rctx);
    let result: unknown;
    try {
      result = await pending;
    } catch (e) {
      throw casing ? wireFieldNames(e) : e;
    }
    if (rctx.staged) await rctx.settle();
    finish(ctx, result);
  }

  function finish(ctx: Context, handled: unknown) {
    const result = casing ? toWire(handled, casing.responses, defaultPlan) : handled;
    const body = renderResult(ctx, result, defaultStatus, options.envelope, message);
    if (v.responses) checkResponse(v, ctx.status, body, entry.operationId);
  }
}

/** The handler's result with wire names, by the plan of the status it answers with. */
function toWire(result: unknown, plans: Map<string, KeyPlan | undefined>, defaultPlan: KeyPlan | undefined): unknown {
  if (isReply(result)) {
    if (result.raw || result.body === undefined) return result;
    const plan = plans.get(String(result.status));
    return { ...result, body: translate(result.body, plan, 'out') };
  }
  return translate(result, defaultPlan, 'out');
}

async function readBody(
  ctx: Context,
  v: OperationValidators,
  mediaTypes: string[],
  parser: (ctx: any, next: () => Promise<void>) => Promise<void>,
) {
  const hasBody =
    ctx.req.headers['transfer-encoding'] !== undefined || Number(ctx.req.headers['content-length'] ?? 0) > 0;
  if (!hasBody) {
    if (v.bodyRequired) throw errors.validation([{ field: 'body', message: 'is required', code: 'required' }]);
    return undefined;
  }
  const type = ctx.request.is(mediaTypes);
  if (!type) {
    throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${mediaTypes.join(' or ')}`, {
      details: { allowed: mediaTypes, received: ctx.get('content-type') || null },
    });
  }
  await parser(ctx, async () => {});
  const body = (ctx.request as { body?: unknown }).body;
  const validate = v.body!.get(type) ?? v.body!.values().next().value!;
  if (!validate(body)) throw errors.validation(toDetails(validate.errors, 'body'));
  return body;
}

function checkResponse(v: OperationValidators, status: number, body: unknown, operationId: string) {
  const validate =
    v.responses!.get(String(status)) ?? v.responses!.get(`${String(status)[0]}XX`) ?? v.responses!.get('default');
  if (!validate) {
    if (status >= 400 || status === 204) return;
    throw new AppError(
      500,
      'RESPONSE_NOT_IN_CONTRACT',
      `${operationId} answered ${status}, which its contract does not declare`,
    );
  }
  if (!validate(body)) {
    throw new AppError(500, 'RESPONSE_VALIDATION_FAILED', `${operationId} answered a body that breaks its contract`, {
      details: toDetails(validate.errors, 'response'),
    });
  }
}

/** The renderer an operation's `x-error-format` names; a name no enabled plugin registers fails the boot. */
export function errorFormatOf(
  operationId: string,
  name: string | undefined,
  formats: Map<string, ErrorRenderer> | undefined,
): ErrorRenderer | undefined {
  if (name === undefined) return undefined;
  const render = formats?.get(name);
  if (!render) throw new Error(`${operationId} declares x-error-format "${name}", which no enabled plugin registers`);
  return render;
}
