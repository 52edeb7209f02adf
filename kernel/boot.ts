import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import pino, { type DestinationStream, type Logger } from 'pino';
import { logSerializers } from './logSafety.ts';
import { asFunction, asValue, createContainer, InjectionMode, type AwilixContainer } from 'awilix';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { KernelConfig } from './config/schema.ts';
import type { Catalogs } from './config/validate.ts';
import { BootError } from './config/problems.ts';
import { planKernel, type KernelPlan } from './plan.ts';
import type { Authenticator, PluginDefinition, ServiceSpec, SubscriberContext, UntypedCradle } from './plugin.ts';
import type { RateLimiter } from './ports/rateLimiter.ts';
import { systemClock, type Clock } from './ports/clock.ts';
import { uuidV7Ids, type IdGenerator } from './ports/ids.ts';
import { namespacedCache, type Cache } from './ports/cache.ts';
import type { DomainEvent, EventBus, Subscription } from './ports/eventBus.ts';
import type { AdapterLifecycle } from './ports/adapter.ts';
import { decorateAdapter, timeoutWrapper, unavailableWrapper, type CallWrapper } from './ports/decorate.ts';
import { toEntitySchema } from './storage/schema.ts';
import { openOrm, checkOrm } from './storage/orm.ts';
import { Migrator, withMongoLock, type LockCollection } from './storage/migrations.ts';
import { FastReadPath } from './storage/fastReads.ts';
import { ContractValidator } from './http/validation.ts';
import { buildRouter, type BoundOperation } from './http/routes.ts';
import { createApp } from './http/app.ts';
import { checkRateLimitChoice } from './http/rateLimitChoice.ts';
import { applyConnectionLimit, serverOptions } from './http/serverLimits.ts';
import { idempotencyFor } from './http/idempotency.ts';
import { pluginObservers, requestWatcher } from './http/observers.ts';
import { KernelMetrics } from './metrics/metrics.ts';
import { metricsRoute } from './metrics/route.ts';
import { docsRoutes, docsPathMatcher } from './http/docs.ts';
import { wireContract } from './http/dialect.ts';
import { errorBody, errorDialect } from './http/errorFormat.ts';
import type { PluginRuntime } from './http/requestContext.ts';
import type { Telemetry } from './telemetry.ts';
import { OutboxEntity, OutboxRelay, outboxMigrations, stageEvent } from './events/outbox.ts';
import { eventGuard } from './events/declared.ts';
import { EventReceiptEntity, handleOnce } from './events/receipts.ts';
import { errors } from './errors.ts';
import { splitRouteControl } from './config/routeControl.ts';
import { HealthService, type HealthContributor, type HealthResult } from './health.ts';
import { loadSecrets } from './secrets/envelope.ts';
import { bufferedDestination, flushLogs } from './logging.ts';
import { InFlight } from './inflight.ts';

export interface KernelOptions {
  config: KernelConfig;
  catalogs: Catalogs;
  contractsDir: string;
  version: string;
  clock?: Clock;
  ids?: IdGenerator;
  logger?: Logger;
  /** Open adapters and the database only: no plugin starts, no HTTP, no consumers (CLI migrations). */
  maintenance?: boolean;
  /** The deployment file the config came from, named in hints such as the `migrate: check` error. */
  configFile?: string;
}

export type { HealthResult } from './health.ts';

/** Calls that may legitimately outlast a request timeout (joining a consumer group; egress has its own timeouts). */
const NO_TIMEOUT: Record<string, string[]> = { eventBus: ['subscribe'], egress: ['request'] };
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * A booted deployment: adapters, ORM, plugins and the HTTP app, wired from config.
 * `Kernel.create` does the I/O; `listen` opens the port; `stop` undoes it all in reverse.
 */
export class Kernel {
  readonly startedAt = Date.now();
  readonly root: AwilixContainer<any>;
  app!: Koa;
  server?: Server;
  orm?: MikroORM;
  telemetry?: Telemetry;
  readonly runtimes = new Map<string, PluginRuntime>();
  /** The outbox relay, when the deployment has both a database and an event bus. */
  outbox?: OutboxRelay;
  /** The Prometheus registry: plugin metrics always, the kernel's own and `/metrics` when `metrics.enabled`. */
  metrics!: KernelMetrics;
  private adapters: Array<{ port: string; adapter: string; instance: AdapterLifecycle }> = [];
  private subscriptions: Subscription[] = [];
  private started: PluginDefinition[] = [];
  private stopping?: Promise<void>;
  /** Liveness details plugins contribute (`healthDetails`), by name. */
  private readonly healthContributors = new Map<string, HealthContributor>();
  healthService?: HealthService;
  /** Requests, event handlers and deferred tasks still running; shutdown waits for them. */
  readonly inflight: InFlight;

  private constructor(readonly options: KernelOptions, readonly plan: KernelPlan, readonly logger: Logger) {
    this.root = createContainer<any>({ injectionMode: InjectionMode.PROXY, strict: true });
    this.inflight = new InFlight(logger);
  }

  get config() { return this.options.config; }

  static async create(options: KernelOptions): Promise<Kernel> {
    const plan = planKernel(options.config, options.catalogs, { contractsDir: options.contractsDir, version: options.version });
    const logger = options.logger ?? createLogger(options.config);
    const kernel = new Kernel(options, plan, logger);
    try {
      await kernel.boot();
    } catch (e) {
      await kernel.release().catch((err) => logger.error({ err }, 'cleanup after failed boot'));
      throw e;
    }
    return kernel;
  }

  private async boot() {
    const { config } = this.options;
    const clock = this.options.clock ?? systemClock;
    const ids = this.options.ids ?? uuidV7Ids;
    if (config.telemetry.enabled) this.telemetry = await (await import('./telemetry.ts')).startTelemetry(config);
    this.metrics = new KernelMetrics(config.metrics, this.logger.child({ component: 'metrics' }));

    this.root.register({
      config: asValue(config),
      logger: asValue(this.logger),
      clock: asValue(clock),
      ids: asValue(ids),
      health: asValue(this.healthService = new HealthService({
        run: () => this.health(), clock, config: config.health, logger: this.logger.child({ component: 'health' }),
        info: { name: config.name, version: this.options.version, startedAt: this.startedAt }, contributors: this.healthContributors,
      })),
      kernelInfo: asValue({ name: config.name, version: this.options.version, startedAt: this.startedAt, basePath: config.server.basePath }),
      permissionCatalog: asValue(this.plan.plugins.flatMap((p) => (p.permissions ?? []).map((perm) => ({ ...perm, plugin: p.name })))),
    });
    this.root.register({ secrets: asValue(loadSecrets(config.secrets, this.logger)) });
    await this.startAdapters(clock);
    await this.openStorage();
    this.root.register({ orm: asValue(this.orm) });
    if (this.options.maintenance) return;
    checkRateLimitChoice(config, this.logger);
    if (this.orm && this.usesOutbox()) {
      this.outbox = new OutboxRelay(this.orm, this.root.cradle.eventBus as EventBus, clock, this.logger.child({ component: 'outbox' }));
      this.metrics.watchOutbox(this.orm, clock);
    }

    for (const plugin of this.plan.plugins) this.runtimes.set(plugin.name, this.pluginRuntime(plugin));
    for (const plugin of this.plan.plugins) {
      for (const [name, get] of Object.entries(plugin.healthDetails?.(this.runtimes.get(plugin.name)!.container.cradle) ?? {})) this.healthContributors.set(name, get);
    }
    for (const plugin of this.plan.plugins) {
      await plugin.onStart?.(this.runtimes.get(plugin.name)!.container.cradle);
      this.started.push(plugin);
    }

    const wire = wireContract(this.plan.contract, config);
    const validator = new ContractValidator(wire.document);
    const bound: BoundOperation[] = wire.operations.map((entry) => ({
      entry,
      handler: this.plan.plugins.find((p) => p.name === entry.plugin)!.handlers![entry.operationId],
      runtime: this.runtimes.get(entry.plugin)!,
    }));
    const limiter = this.root.hasRegistration('rateLimiter') ? (this.root.cradle.rateLimiter as RateLimiter) : undefined;
    const router = buildRouter(validator, bound, {
      envelope: config.server.envelope,
      schemes: this.authenticators(),
      documentSecurity: this.plan.contract.document.security,
      rateLimit: limiter && config.rateLimit.enabled ? { limiter, config: config.rateLimit } : undefined,
      bodyLimitBytes: config.server.bodyLimitBytes,
      validateResponses: config.server.validateResponses,
      orm: this.orm,
      idempotency: idempotencyFor(this.plan.contract.operations, this.root.hasRegistration('cache') ? (this.root.cradle.cache as Cache) : undefined, config, this.logger),
      dialects: wire.operationDialects,
      pagination: config.server.pagination,
      fastReads: this.orm ? new FastReadPath(this.orm, config.database.driver, this.telemetry?.querySpan) : undefined,
    });
    const docs = config.server.docs;
    this.app = createApp({
      config,
      logger: this.logger,
      ids,
      router,
      extraRoutes: docsRoutes(wire.served, { enabled: docs.enabled, title: docs.title ?? config.name, paths: docs.paths }),
      isExtraRoute: docsPathMatcher(docs.paths),
      around: this.telemetry?.httpSpan,
      watch: requestWatcher(pluginObservers(this.plan.plugins, (name) => this.runtimes.get(name)!.container.cradle), this.logger, this.metrics.http),
      before: config.metrics.enabled ? [metricsRoute(this.metrics.registry, config.metrics, Object.keys(this.plan.contract.document.paths ?? {}))] : undefined,
    });
    await this.startSubscribers();
    this.outbox?.start();
  }

  private async startAdapters(clock: Clock) {
    const { config, catalogs } = this.options;
    for (const [port, section] of Object.entries(config.adapters)) {
      const { use, timeoutMs, ...options } = section;
      const def = catalogs.adapters[port][use];
      const instance = (await def.create(options, { logger: this.logger.child({ adapter: `${port}.${use}` }), clock, serviceName: config.name })) as object & AdapterLifecycle;
      this.adapters.push({ port, adapter: use, instance });
      // In-process adapters cannot hang or lose a connection: they skip the timeout and 503 wrappers.
      const timed = def.local ? instance : decorateAdapter(instance, { port, adapter: use }, [timeoutWrapper(Number(timeoutMs ?? DEFAULT_TIMEOUT_MS))], NO_TIMEOUT[port]);
      const wrappers: CallWrapper[] = [];
      if (this.telemetry) wrappers.push(this.telemetry.adapterSpan);
      if (this.metrics.adapterCalls) wrappers.push(this.metrics.adapterCalls);
      if (!def.local) wrappers.push(unavailableWrapper);
      this.root.register(port, asValue(decorateAdapter(timed, { port, adapter: use }, wrappers)));
    }
  }

  private async openStorage() {
    const { config } = this.options;
    const specs = this.plan.plugins.flatMap((p) => p.entities ?? []);
    const needsDb = specs.length > 0 || this.plan.plugins.some((p) => p.migrations?.length);
    if (!needsDb) return;
    if (this.usesOutbox()) specs.push(OutboxEntity, EventReceiptEntity);
    const driver = config.database.driver;
    this.orm = await openOrm(config.database, specs.map((s) => toEntitySchema(s, driver)), this.logger.child({ component: 'orm' }), this.telemetry?.querySpan);
    if (driver === 'mongodb') {
      // `check` only reads: indexes are ensured by `auto` (or `migrate up`), one instance at a time.
      if (config.database.migrate === 'auto') {
        const locks = (this.orm.em as any).getConnection().getDb().collection('kernel_locks') as LockCollection;
        await withMongoLock(locks, 'migrations', () => this.orm!.getSchemaGenerator().ensureIndexes());
      }
      return;
    }
    const pending = config.database.migrate === 'off' ? [] : await this.migrator().pending();
    if (config.database.migrate === 'check' && pending.length) {
      const command = `npm run cli -- migrate up${this.options.configFile ? ` --config ${this.options.configFile}` : ''}`;
      throw new BootError(pending.map((m) => `migration ${m.plugin}/${m.name} is pending (run \`${command}\` with the same environment, or set database.migrate: auto)`));
    }
    if (config.database.migrate === 'auto' && pending.length) {
      const ran = await this.migrator().up();
      this.logger.info({ migrations: ran.map((m) => `${m.plugin}/${m.name}`) }, 'migrations applied');
    }
  }

  /** The per-plugin migration runner (SQL drivers only). */
  migrator(): Migrator {
    if (!this.orm || this.config.database.driver === 'mongodb') throw new Error('migrations need a SQL database');
    const knex = (this.orm.em as any).getConnection().getKnex();
    const plugins = this.plan.plugins.map((p) => ({ name: p.name, migrations: p.migrations ?? [] }));
    return new Migrator(knex, this.usesOutbox() ? [{ name: 'kernel', migrations: outboxMigrations }, ...plugins] : plugins);
  }

  private usesOutbox(): boolean {
    return 'eventBus' in this.config.adapters && this.plan.plugins.some((p) => p.entities?.length || p.migrations?.length);
  }

  /** A plugin sees its own services, the ports, and what the plugins it requires export. Nothing else. */
  private pluginRuntime(plugin: PluginDefinition): PluginRuntime {
    const container = createContainer<UntypedCradle>({ injectionMode: InjectionMode.PROXY, strict: true });
    const logger = this.logger.child({ plugin: plugin.name });
    const root = this.root.cradle;
    const { enabled: _enabled, ...section } = this.config.plugins[plugin.name] ?? {};
    const pluginConfig = splitRouteControl(section).rest;
    const ids: IdGenerator = root.ids;
    const clock: Clock = root.clock;
    const checkEvent = eventGuard(plugin, logger);
    const makeEvent = <T>(type: string, data: T, options?: { key?: string }): DomainEvent<T> => {
      if (!type.startsWith(`${plugin.name}.`)) throw new Error(`plugin ${plugin.name} may only publish events named ${plugin.name}.*, not ${type}`);
      checkEvent(type, data);
      return { id: ids.next(), type, occurredAt: clock.date().toISOString(), data, ...(options?.key ? { key: options.key } : {}) };
    };
    const outbox = this.outbox ? { stage: stageEvent, kick: () => this.outbox!.kick() } : undefined;
    /** Outside a request: through the outbox in its own unit of work when there is one, else straight to the bus. */
    const publish = async <T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>> => {
      const event = makeEvent(type, data, options);
      if (outbox && this.orm) {
        const em = this.orm.em.fork();
        stageEvent(em, event);
        await em.flush();
        outbox.kick();
        return event;
      }
      const bus = this.root.hasRegistration('eventBus') ? (this.root.cradle.eventBus as EventBus) : undefined;
      if (!bus) throw errors.unavailable('eventBus');
      await bus.publish(event);
      return event;
    };
    /** Outside a request, in a unit of work of the caller's: the event is stored by the caller's next flush of `em`. */
    const publishIn = (em: EntityManager) => async <T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>> => {
      if (!outbox) return publish(type, data, options);
      const event = makeEvent(type, data, options);
      stageEvent(em, event);
      setTimeout(() => outbox.kick(), 50).unref();
      return event;
    };
    const ports: Record<string, unknown> = {
      logger, config: pluginConfig, pluginName: plugin.name, clock, ids,
      health: root.health, kernelInfo: root.kernelInfo, permissionCatalog: root.permissionCatalog, publish, publishIn,
      secrets: root.secrets,
      lifecycle: this.inflight.lifecycle(logger, plugin.name),
    };
    if (this.orm) ports.orm = this.orm;
    ports.metrics = this.metrics.forPlugin(plugin.name);
    for (const { port } of this.adapters) ports[port] = port === 'cache' ? namespacedCache(root.cache as Cache, plugin.name) : root[port];
    for (const [name, value] of Object.entries(ports)) container.register(name, asValue(value));

    const problems: string[] = [];
    for (const [name, spec] of Object.entries(plugin.services ?? {})) {
      if (container.hasRegistration(name)) { problems.push(`plugin ${plugin.name}: service "${name}" shadows a port of the same name`); continue; }
      const s: ServiceSpec = typeof spec === 'function' ? { factory: spec } : spec;
      const resolver = asFunction(s.factory);
      container.register(name, s.lifetime === 'scoped' ? resolver.scoped() : resolver.singleton().disposer(s.dispose ?? (() => {})));
    }
    for (const dep of plugin.requires ?? []) {
      const provider = this.runtimes.get(dep)!;
      const def = this.plan.plugins.find((p) => p.name === dep)!;
      for (const name of def.exports ?? []) {
        if (container.hasRegistration(name)) { problems.push(`plugin ${plugin.name}: "${name}" exported by ${dep} clashes with a name it already has`); continue; }
        container.register(name, asFunction(() => provider.container.resolve(name)).singleton());
      }
    }
    for (const name of plugin.exports ?? []) {
      if (!plugin.services?.[name]) problems.push(`plugin ${plugin.name} exports "${name}", which is not one of its services`);
    }
    if (problems.length) throw new BootError(problems);
    const hasScoped = Object.values(plugin.services ?? {}).some((s) => typeof s !== 'function' && s.lifetime === 'scoped');
    return { name: plugin.name, container, hasScoped, logger, publish, makeEvent, outbox };
  }

  /** Security scheme name -> authenticator, made in the container of the plugin that provides it. */
  private authenticators(): Map<string, Authenticator> {
    const schemes = new Map<string, Authenticator>();
    for (const plugin of this.plan.plugins) {
      for (const [name, make] of Object.entries(plugin.authSchemes ?? {})) {
        schemes.set(name, make(this.runtimes.get(plugin.name)!.container.cradle));
      }
    }
    return schemes;
  }

  private async startSubscribers() {
    const subs = this.plan.plugins.flatMap((p) => (p.subscribers ?? []).map((s) => ({ plugin: p, sub: s })));
    if (!subs.length) return;
    const bus = this.root.cradle.eventBus as EventBus;
    for (const { plugin, sub } of subs) {
      const runtime = this.runtimes.get(plugin.name)!;
      const group = `${plugin.name}.${sub.name}`;
      const log = runtime.logger.child({ subscriber: sub.name });
      const clock = this.root.cradle.clock as Clock;
      const subscription = await bus.subscribe(sub.event, { group }, async (event) => {
        const em = this.orm?.em.fork();
        const ctx: SubscriberContext = {
          log,
          get em() { if (!em) throw errors.unavailable('database'); return em; },
          get services() { return runtime.container.cradle; },
        };
        const run = sub.idempotent && em
          ? handleOnce(em, group, event, () => sub.handle(event, ctx), () => clock.date()).then(() => {})
          : sub.handle(event, ctx);
        await this.inflight.track('event handlers', run);
      });
      this.subscriptions.push(subscription);
    }
  }

  /** Runs every adapter's and the database's check, each bounded to 2 s. */
  async health(): Promise<HealthResult[]> {
    const checks: Array<{ name: string; run: () => Promise<void> }> = [];
    if (this.orm) checks.push({ name: 'database', run: () => checkOrm(this.orm!) });
    const names = this.config.health?.checkNames ?? {};
    for (const a of this.adapters) if (a.instance.health) checks.push({ name: names[a.port] ?? a.port, run: () => a.instance.health!() });
    return Promise.all(checks.map(async ({ name, run }) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([run(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out after 2000 ms')), 2000); })]);
        return { name, ok: true, ms: Math.round(performance.now() - started) };
      } catch (e) {
        return { name, ok: false, ms: Math.round(performance.now() - started), error: (e as Error).message };
      } finally {
        clearTimeout(timer);
      }
    }));
  }

  /** Opens the HTTP port. Client errors the parser rejects (huge headers, bad requests) still get the one error format. */
  async listen(port = this.config.server.port, host = this.config.server.host): Promise<AddressInfo> {
    const handle = this.app.callback();
    // Tracked to the end of the middleware chain: a handler may outlive its connection.
    const server = createServer({ maxHeaderSize: 16384, ...serverOptions(this.config.server) },
      (req, res) => { void this.inflight.track('requests', handle(req, res)); });
    applyConnectionLimit(server, this.config.server);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return; }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const code = status === 431 ? 'HEADERS_TOO_LARGE' : status === 408 ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
      const message = status === 431 ? 'The request line or headers are too large' : 'The request could not be parsed';
      const body = JSON.stringify(errorBody(errorDialect(this.config), { code, message }, uuidV7Ids.next()));
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    return server.address() as AddressInfo;
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests, event handlers and deferred
   * work finish within `server.shutdownTimeoutMs`; past it, close the remaining connections and
   * give the work still running half as long again. Only then stop consumers, plugins and
   * adapters in reverse order (what was still running then is logged as cut off).
   */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndRelease();
    return this.stopping;
  }

  private async drainAndRelease() {
    this.inflight.stopping = true;
    const timeoutMs = this.config.server.shutdownTimeoutMs;
    const timers: NodeJS.Timeout[] = [];
    const after = (ms: number) => new Promise<void>((resolve) => { timers.push(setTimeout(resolve, ms)); });
    const deadline = after(timeoutMs);
    try {
      const server = this.server;
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        server.closeIdleConnections();
        const outcome = await Promise.race([closed.then(() => 'drained' as const), deadline.then(() => 'timeout' as const)]);
        clearInterval(idle);
        if (outcome === 'timeout') {
          this.logger.warn('shutdown timeout: closing remaining connections');
          server.closeAllConnections();
        }
      }
      // No new work from the bus; rows staged from here on are published by the next boot.
      await this.outbox?.stop();
      await this.unsubscribeAll();
      // A handler whose client went away, and deferred work, still use the database and services.
      const done = (await this.inflight.idle(deadline)) || (await this.inflight.idle(after(Math.ceil(timeoutMs / 2))));
      if (!done) this.logger.error({ cutOff: this.inflight.summary() }, 'shutdown deadline passed: work still running is cut off');
    } finally {
      for (const t of timers) clearTimeout(t);
    }
    await this.release();
  }

  private async unsubscribeAll() {
    for (const s of this.subscriptions.splice(0).reverse()) await s.unsubscribe().catch((err) => this.logger.warn({ err }, 'unsubscribe failed'));
  }

  private async release() {
    this.inflight.close();
    await this.outbox?.stop();
    await this.unsubscribeAll();
    for (const plugin of this.started.splice(0).reverse()) {
      const runtime = this.runtimes.get(plugin.name)!;
      await Promise.resolve(plugin.onStop?.(runtime.container.cradle)).catch((err) => this.logger.warn({ err, plugin: plugin.name }, 'onStop failed'));
      await runtime.container.dispose().catch((err) => this.logger.warn({ err, plugin: plugin.name }, 'dispose failed'));
    }
    if (this.orm) await this.orm.close(true).catch((err) => this.logger.warn({ err }, 'closing the database failed'));
    for (const a of this.adapters.splice(0).reverse()) {
      await a.instance.close?.().catch((err) => this.logger.warn({ err, port: a.port }, 'closing an adapter failed'));
    }
    await this.telemetry?.shutdown().catch(() => {});
    await flushLogs(this.logger);
  }
}

/**
 * Explicit paths only: pino's wildcard redaction doubles the cost of every log line. Request
 * bodies are never logged; these cover the objects that are (headers, errors, config).
 */
const SECRET_PATHS = ['headers.authorization', 'headers.cookie', 'headers["x-api-key"]', 'password', 'token', 'secret', 'apiKey', 'refreshToken', 'accessToken', 'config.password'];

/** JSON lines to `destination` (stdout by default), buffered (kernel/logging.ts) unless a stream is given. */
export function createLogger(config: KernelConfig, destination: DestinationStream | number | string = 1): Logger {
  const options = {
    name: config.name, level: config.log.level,
    redact: { paths: SECRET_PATHS, censor: '[redacted]' }, serializers: logSerializers(config.log.level),
  };
  return pino(options, typeof destination === 'object' ? destination : bufferedDestination(destination));
}
