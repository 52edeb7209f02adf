/** The Kernel: boot a deployment from config (kernel/boot/* does each step), listen, and stop in reverse. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { createContainer, InjectionMode, asValue, type AwilixContainer } from 'awilix';
import type { MikroORM } from '@mikro-orm/core';
import type { KernelConfig } from './config/schema.ts';
import type { Catalogs } from './config/validate.ts';
import { planKernel, type KernelPlan } from './plan.ts';
import type { PluginDefinition } from './plugin.ts';
import { systemClock, type Clock } from './ports/clock.ts';
import { uuidV7Ids, type IdGenerator } from './ports/ids.ts';
import type { EventBus, Subscription } from './ports/eventBus.ts';
import type { AdapterLifecycle } from './ports/adapter.ts';
import { checkRateLimitChoice } from './http/rateLimitChoice.ts';
import type { PluginRuntime } from './http/requestContext.ts';
import { KernelMetrics } from './metrics/metrics.ts';
import type { Telemetry } from './telemetry.ts';
import { OutboxRelay } from './events/outbox.ts';
import type { Migrator } from './storage/migrations.ts';
import type { HealthContributor, HealthResult, HealthService } from './health.ts';
import { flushLogs } from './logging.ts';
import { InFlight } from './inflight.ts';
import { createLogger } from './logger.ts';
import { registerKernelValues } from './boot/rootContainer.ts';
import { startAdapters } from './boot/adapters.ts';
import { migrator, openStorage, usesOutbox } from './boot/storage.ts';
import { pluginRuntime } from './boot/pluginContainers.ts';
import { buildHttpApp } from './boot/app.ts';
import { startSubscribers, unsubscribeAll } from './boot/subscribers.ts';
import { runHealthChecks } from './boot/health.ts';
import { createHttpServer } from './boot/server.ts';
import type { UpgradeListener } from './http/upgrades.ts';
import { jobsConfig, prepareJobs, startJobs, stopJobs } from './boot/jobs.ts';
import type { JobsClient } from './jobs/client.ts';
import type { JobWorker } from './jobs/worker.ts';
import type { PluginSchedule, Scheduler } from './jobs/schedules.ts';

export { createLogger } from './logger.ts';
export type { HealthResult } from './health.ts';

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

/**
 * A booted deployment: adapters, ORM, plugins and the HTTP app, wired from config.
 * `Kernel.create` does the I/O; `listen` opens the port; `stop` undoes it all in reverse.
 */
export class Kernel {
  readonly startedAt = Date.now();
  readonly root: AwilixContainer<any>;
  app!: Koa;
  server?: Server;
  /** Routes HTTP upgrades to the plugins' `upgrades` hooks (kernel/http/upgrades.ts); unset when none has one. */
  upgrade?: UpgradeListener;
  orm?: MikroORM;
  telemetry?: Telemetry;
  readonly runtimes = new Map<string, PluginRuntime>();
  /** The outbox relay, when the deployment has both a database and an event bus. */
  outbox?: OutboxRelay;
  /** The Prometheus registry: plugin metrics always, the kernel's own and `/metrics` when `metrics.enabled`. */
  metrics!: KernelMetrics;
  /** The started adapters, in start order (kernel/boot/* only). */
  readonly adapters: Array<{ port: string; adapter: string; instance: AdapterLifecycle }> = [];
  /** The event consumers' subscriptions (kernel/boot/subscribers.ts only). */
  readonly subscriptions: Subscription[] = [];
  private started: PluginDefinition[] = [];
  private stopping?: Promise<void>;
  /** Liveness details plugins contribute (`healthDetails`), by name. */
  readonly healthContributors = new Map<string, HealthContributor>();
  healthService?: HealthService;
  /** Requests, event handlers and deferred tasks still running; shutdown waits for them. */
  readonly inflight: InFlight;
  /** The `jobs` service, when a jobQueue adapter is configured; the worker and schedules where jobs run. */
  jobs?: JobsClient;
  jobSchedules?: PluginSchedule[];
  jobWorker?: JobWorker;
  scheduler?: Scheduler;
  /** Why this deployment runs no jobs although plugins declare them (the database adapter on MongoDB). */
  jobsUnavailable?: string;

  private constructor(readonly options: KernelOptions, readonly plan: KernelPlan, readonly logger: Logger) {
    this.root = createContainer<any>({ injectionMode: InjectionMode.PROXY, strict: true });
    this.inflight = new InFlight(logger);
  }

  get config() { return this.options.config; }

  static async create(options: KernelOptions): Promise<Kernel> {
    const plan = planKernel(
      options.config, options.catalogs, { contractsDir: options.contractsDir, version: options.version },
    );
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

  /** The boot sequence of ARCHITECTURE.md "Boot and shutdown", one step per kernel/boot/ file. */
  private async boot() {
    const { config } = this.options;
    const clock = this.options.clock ?? systemClock;
    const ids = this.options.ids ?? uuidV7Ids;
    if (config.telemetry.enabled) this.telemetry = await (await import('./telemetry.ts')).startTelemetry(config);
    this.metrics = new KernelMetrics(config.metrics, this.logger.child({ component: 'metrics' }));

    registerKernelValues(this, clock, ids);
    await startAdapters(this, clock);
    await openStorage(this);
    this.root.register({ orm: asValue(this.orm) });
    if (this.options.maintenance) return;
    checkRateLimitChoice(config, this.logger);
    if (this.orm && usesOutbox(this)) {
      this.outbox = new OutboxRelay(
        this.orm, this.root.cradle.eventBus as EventBus, clock, this.logger.child({ component: 'outbox' }),
      );
      this.metrics.watchOutbox(this.orm, clock);
    }

    prepareJobs(this);
    for (const plugin of this.plan.plugins) this.runtimes.set(plugin.name, pluginRuntime(this, plugin));
    for (const plugin of this.plan.plugins) {
      const details = plugin.healthDetails?.(this.runtimes.get(plugin.name)!.container.cradle) ?? {};
      for (const [name, get] of Object.entries(details)) this.healthContributors.set(name, get);
    }
    for (const plugin of this.plan.plugins) {
      await plugin.onStart?.(this.runtimes.get(plugin.name)!.container.cradle);
      this.started.push(plugin);
    }

    this.app = buildHttpApp(this, ids);
    await startSubscribers(this);
    this.outbox?.start();
    startJobs(this);
  }

  /** The per-plugin migration runner (SQL drivers only). */
  migrator(): Migrator {
    return migrator(this);
  }

  /** Runs every adapter's and the database's check, each bounded to 2 s. */
  async health(): Promise<HealthResult[]> {
    return runHealthChecks(this);
  }

  /** Opens the HTTP port (the server: kernel/boot/server.ts). */
  async listen(port = this.config.server.port, host = this.config.server.host): Promise<AddressInfo> {
    const server = createHttpServer(this);
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
        const outcome = await Promise.race([
          closed.then(() => 'drained' as const), deadline.then(() => 'timeout' as const),
        ]);
        clearInterval(idle);
        if (outcome === 'timeout') {
          this.logger.warn('shutdown timeout: closing remaining connections');
          server.closeAllConnections();
        }
      }
      // Running jobs finish by their own deadline, then go back to the queue for another worker.
      await stopJobs(this, jobsConfig(this).shutdownTimeoutMs);
      // No new work from the bus; rows staged from here on are published by the next boot.
      await this.outbox?.stop();
      await unsubscribeAll(this);
      // A handler whose client went away, and deferred work, still use the database and services.
      const done = (await this.inflight.idle(deadline)) || (await this.inflight.idle(after(Math.ceil(timeoutMs / 2))));
      if (!done) {
        this.logger.error(
          { cutOff: this.inflight.summary() }, 'shutdown deadline passed: work still running is cut off',
        );
      }
    } finally {
      for (const t of timers) clearTimeout(t);
    }
    await this.release();
  }

  private async release() {
    await stopJobs(this, 0).catch((err) => this.logger.warn({ err }, 'stopping the job worker failed'));
    this.inflight.close();
    await this.outbox?.stop();
    await unsubscribeAll(this);
    for (const plugin of this.started.splice(0).reverse()) {
      const runtime = this.runtimes.get(plugin.name)!;
      await Promise.resolve(plugin.onStop?.(runtime.container.cradle))
        .catch((err) => this.logger.warn({ err, plugin: plugin.name }, 'onStop failed'));
      await runtime.container.dispose()
        .catch((err) => this.logger.warn({ err, plugin: plugin.name }, 'dispose failed'));
    }
    if (this.orm) await this.orm.close(true).catch((err) => this.logger.warn({ err }, 'closing the database failed'));
    for (const a of this.adapters.splice(0).reverse()) {
      await a.instance.close?.()
        .catch((err) => this.logger.warn({ err, port: a.port }, 'closing an adapter failed'));
    }
    await this.telemetry?.shutdown().catch(() => {});
    await flushLogs(this.logger);
  }
}
