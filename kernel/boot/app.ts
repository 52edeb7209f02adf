/** Boot step: the HTTP router from the merged contracts, and the Koa app around it (docs, metrics, observers). */
import type Koa from 'koa';
import type { Kernel } from '../boot.ts';
import type { Authenticator, PrincipalEnricher } from '../plugin.ts';
import type { IdGenerator } from '../ports/ids.ts';
import type { RateLimiter } from '../ports/rateLimiter.ts';
import type { Cache } from '../ports/cache.ts';
import { FastReadPath } from '../storage/fastReads.ts';
import { ContractValidator } from '../http/validation.ts';
import { buildRouter, type BoundOperation } from '../http/routes.ts';
import { createApp } from '../http/app.ts';
import { idempotencyFor } from '../http/idempotency.ts';
import { pluginObservers, requestWatcher } from '../http/observers.ts';
import { metricsRoute } from '../metrics/route.ts';
import { docsRoutes, docsPathMatcher } from '../http/docs.ts';
import { wireContract } from '../http/dialect.ts';
import { credentialRegistry } from '../http/principalTypes.ts';
import { upgradeRouter } from '../http/upgrades.ts';
import { errorDialect, errorFormatRegistry, type ErrorRenderer } from '../http/errorFormat.ts';
import { unmatchedFormats } from '../http/unmatchedFormat.ts';

export function buildHttpApp(kernel: Kernel, ids: IdGenerator): Koa {
  const { config } = kernel.options;
  const wire = wireContract(kernel.plan.contract, config);
  const validator = new ContractValidator(wire.document);
  const errorFormats = errorFormatRegistry(kernel.plan.plugins);
  const bound: BoundOperation[] = wire.operations.map((entry) => ({
    entry,
    handler: kernel.plan.plugins.find((p) => p.name === entry.plugin)!.handlers![entry.operationId],
    runtime: kernel.runtimes.get(entry.plugin)!,
  }));
  const limiter = kernel.root.hasRegistration('rateLimiter')
    ? (kernel.root.cradle.rateLimiter as RateLimiter)
    : undefined;
  const cache = kernel.root.hasRegistration('cache') ? (kernel.root.cradle.cache as Cache) : undefined;
  const schemes = authenticators(kernel);
  const upgrades = bound.flatMap(({ entry }) => {
    const make = kernel.plan.plugins.find((p) => p.name === entry.plugin)!.upgrades?.[entry.operationId];
    return make ? [{ entry, handler: make(kernel.runtimes.get(entry.plugin)!.container.cradle) }] : [];
  });
  if (upgrades.length) {
    kernel.upgrade = upgradeRouter(upgrades, {
      schemes, documentSecurity: kernel.plan.contract.document.security, dialect: errorDialect(config),
      logger: kernel.logger, ids, trustProxy: config.server.trustProxy,
    });
  }
  const router = buildRouter(validator, bound, {
    envelope: config.server.envelope,
    schemes,
    documentSecurity: kernel.plan.contract.document.security,
    rateLimit: limiter && config.rateLimit.enabled ? { limiter, config: config.rateLimit } : undefined,
    bodyLimitBytes: config.server.bodyLimitBytes,
    validateResponses: config.server.validateResponses,
    orm: kernel.orm,
    idempotency: idempotencyFor(kernel.plan.contract.operations, cache, config, kernel.logger),
    dialects: wire.operationDialects,
    pagination: config.server.pagination,
    fastReads: kernel.orm
      ? new FastReadPath(kernel.orm, config.database.driver, kernel.telemetry?.querySpan)
      : undefined,
    credentials: credentialRegistry(kernel.plan.plugins),
    errorFormats,
  });
  const formatByOperation = new Map<string, ErrorRenderer>();
  for (const [id, d] of wire.operationDialects)
    if (d.errorFormat) formatByOperation.set(id, errorFormats.get(d.errorFormat)!);
  const docs = config.server.docs;
  const cradleOf = (name: string) => kernel.runtimes.get(name)!.container.cradle;
  return createApp({
    config,
    logger: kernel.logger,
    ids,
    router,
    extraRoutes: docsRoutes(
      wire.served, { enabled: docs.enabled, title: docs.title ?? config.name, paths: docs.paths },
    ),
    isExtraRoute: docsPathMatcher(docs.paths),
    around: kernel.telemetry?.httpSpan,
    errorFormats: formatByOperation,
    unmatchedFormat: unmatchedFormats(kernel.plan.plugins, errorFormats, wire.operations),
    watch: requestWatcher(pluginObservers(kernel.plan.plugins, cradleOf), kernel.logger, kernel.metrics.http),
    before: config.metrics.enabled
      ? [metricsRoute(kernel.metrics.registry, config.metrics, Object.keys(kernel.plan.contract.document.paths ?? {}))]
      : undefined,
  });
}

/** Security scheme name -> authenticator, made in the container of the plugin that provides it. */
function authenticators(kernel: Kernel): Map<string, Authenticator> {
  const schemes = new Map<string, Authenticator>();
  const enrichers = kernel.plan.plugins.flatMap((plugin) =>
    (plugin.principalEnrichers ?? []).map((make) => make(kernel.runtimes.get(plugin.name)!.container.cradle)));
  for (const plugin of kernel.plan.plugins) {
    for (const [name, make] of Object.entries(plugin.authSchemes ?? {})) {
      schemes.set(name, enriched(make(kernel.runtimes.get(plugin.name)!.container.cradle), enrichers));
    }
  }
  return schemes;
}

function enriched(authenticate: Authenticator, enrichers: PrincipalEnricher[]): Authenticator {
  if (!enrichers.length) return authenticate;
  return async (input) => {
    const principal = await authenticate(input);
    if (principal) {
      for (const enrich of enrichers) {
        const pending = enrich(principal);
        if (pending) await pending; // a synchronous enricher (a cache hit) costs no microtask
      }
    }
    return principal;
  };
}
