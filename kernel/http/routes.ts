import type { Context } from 'koa';
import { Router } from '@koa/router';
import { koaBody } from 'koa-body';
import type { MikroORM } from '@mikro-orm/core';
import { AppError, errors } from '../errors.ts';
import type { Handler, HandlerRequest } from '../plugin.ts';
import type { OperationEntry } from './contracts.ts';
import { ContractValidator, toDetails, type OperationValidators } from './validation.ts';
import { HttpRequestContext, type PluginRuntime } from './requestContext.ts';
import { renderResult, type Envelope } from './render.ts';
import { compileGuard, operationSecurity, type SecurityRequirement } from './security.ts';
import { compileRateLimit } from './rateLimit.ts';
import { alongside, takeDeferredCheck } from './deferredChecks.ts';
import type { Authenticator } from '../plugin.ts';
import type { RateLimiter } from '../ports/rateLimiter.ts';
import type { KernelConfig } from '../config/schema.ts';
import type { FastReadPath } from '../storage/fastReads.ts';

export interface RouteOptions {
  envelope: Envelope;
  /** Authenticators by security scheme name, from the plugins that provide them. */
  schemes: Map<string, Authenticator>;
  documentSecurity?: SecurityRequirement[];
  rateLimit?: { limiter: RateLimiter; config: KernelConfig['rateLimit'] };
  bodyLimitBytes: number;
  validateResponses: boolean;
  orm?: MikroORM;
  fastReads?: FastReadPath;
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
  for (const op of bound) {
    const route = compileRoute(validator, op, options);
    router.register(toRouterPath(op.entry.path), [op.entry.method.toUpperCase()], route, { name: op.entry.operationId });
  }
  return router;
}

function compileRoute(validator: ContractValidator, op: BoundOperation, options: RouteOptions) {
  const { entry, handler, runtime } = op;
  const v: OperationValidators = validator.compile(entry, options.validateResponses);
  const mediaTypes = v.body ? [...v.body.keys()] : [];
  const parser = v.body
    ? koaBody({ json: true, urlencoded: mediaTypes.includes('application/x-www-form-urlencoded'), text: false, multipart: false, jsonLimit: options.bodyLimitBytes, formLimit: options.bodyLimitBytes, jsonStrict: false, parsedMethods: ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'] as any, patchNode: false, patchKoa: true })
    : undefined;
  const headerNames = entry.parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase());
  const successStatuses = Object.keys(entry.operation.responses ?? {}).filter((s) => /^2\d\d$/.test(s)).map(Number).sort();
  const defaultStatus = successStatuses[0] ?? 200;
  const log = runtime.logger;
  const guard = compileGuard(operationSecurity(entry, options.documentSecurity), options.schemes, entry.operationId);
  // `x-rate-limit: false` exempts an operation (health probes).
  const rateLimit = options.rateLimit && entry.operation['x-rate-limit'] !== false ? compileRateLimit(entry, options.rateLimit.limiter, options.rateLimit.config) : undefined;

  return async function operation(ctx: Context) {
    ctx.state.operationId = entry.operationId;
    ctx.state.routeTemplate = entry.path;
    const principal = guard ? await guard({ headers: ctx.headers, ip: ctx.ip }) : undefined;
    const deferred = takeDeferredCheck(principal);
    if (rateLimit || deferred) await alongside(deferred, rateLimit?.(ctx, principal));
    const req: HandlerRequest = { params: ctx.params ?? {}, query: {}, body: undefined, headers: ctx.headers };

    if (v.params && !v.params(req.params)) throw errors.validation(toDetails(v.params.errors, 'path'));
    if (v.query) {
      req.query = { ...ctx.query };
      if (!v.query(req.query)) throw errors.validation(toDetails(v.query.errors, 'query'));
    }
    if (v.headers) {
      const headers: Record<string, unknown> = {};
      for (const name of headerNames) if (ctx.headers[name] !== undefined) headers[name] = ctx.headers[name];
      if (!v.headers(headers)) throw errors.validation(toDetails(v.headers.errors, 'header'));
      req.headers = { ...ctx.headers, ...(headers as Record<string, string>) };
    }
    if (v.body) req.body = await readBody(ctx, v, mediaTypes, parser!);

    const rctx = new HttpRequestContext(ctx, ctx.state.requestId, entry.operationId, log, runtime, options.orm, options.fastReads);
    rctx.principal = principal;
    const result = await handler(req, rctx);
    await rctx.settle();
    const body = renderResult(ctx, result, defaultStatus, options.envelope);
    if (v.responses) checkResponse(v, ctx.status, body, entry.operationId);
  };
}

async function readBody(ctx: Context, v: OperationValidators, mediaTypes: string[], parser: (ctx: any, next: () => Promise<void>) => Promise<void>) {
  const hasBody = ctx.req.headers['transfer-encoding'] !== undefined || Number(ctx.req.headers['content-length'] ?? 0) > 0;
  if (!hasBody) {
    if (v.bodyRequired) throw errors.validation([{ field: 'body', message: 'is required', code: 'required' }]);
    return undefined;
  }
  const type = ctx.request.is(mediaTypes);
  if (!type) {
    throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${mediaTypes.join(' or ')}`, { details: { allowed: mediaTypes, received: ctx.get('content-type') || null } });
  }
  await parser(ctx, async () => {});
  const body = (ctx.request as { body?: unknown }).body;
  const validate = v.body!.get(type) ?? v.body!.values().next().value!;
  if (!validate(body)) throw errors.validation(toDetails(validate.errors, 'body'));
  return body;
}

function checkResponse(v: OperationValidators, status: number, body: unknown, operationId: string) {
  const validate = v.responses!.get(String(status)) ?? v.responses!.get(`${String(status)[0]}XX`) ?? v.responses!.get('default');
  if (!validate) {
    if (status >= 400 || status === 204) return;
    throw new AppError(500, 'RESPONSE_NOT_IN_CONTRACT', `${operationId} answered ${status}, which its contract does not declare`);
  }
  if (!validate(body)) {
    throw new AppError(500, 'RESPONSE_VALIDATION_FAILED', `${operationId} answered a body that breaks its contract`, { details: toDetails(validate.errors, 'response') });
  }
}
