/**
 * What every plugin's container holds besides its own services: the kernel's ports and values
 * (`KernelCradle`), and in request scope the request's members (`RequestCradle`). Service
 * factories, hooks and handlers see these typed; see kernel/types/services.ts.
 */
import type { Logger } from 'pino';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Cache } from '../ports/cache.ts';
import type { Clock } from '../ports/clock.ts';
import type { IdGenerator } from '../ports/ids.ts';
import type { DomainEvent, EventBus } from '../ports/eventBus.ts';
import type { RateLimiter } from '../ports/rateLimiter.ts';
import type { Mailer } from '../ports/mailer.ts';
import type { Egress } from '../ports/egress.ts';
import type { PaymentGateway } from '../ports/payments.ts';
import type { PubSub } from '../ports/pubsub.ts';
import type { JobQueue } from '../ports/jobQueue.ts';
import type { Jobs } from '../jobs/types.ts';
import type { AiProviders } from '../ports/aiProvider.ts';
import type { Secrets } from '../ports/secrets.ts';
import type { PluginMetrics } from '../metrics/metrics.ts';
import type { FastReads } from '../storage/fastReads.ts';
import type { Lifecycle } from '../inflight.ts';
import type { HealthService } from '../health.ts';
import type { PermissionDefinition, Principal } from '../plugin.ts';

/** Publishes a domain event; its type must start with the plugin's name. */
export type Publish = <T>(type: string, data: T, options?: { key?: string }) => Promise<DomainEvent<T>>;

/** The ports and kernel values registered in every plugin's container; `config` is `plugins.<name>`. */
export interface KernelCradle<Config = unknown> {
  config: Config;
  pluginName: string;
  logger: Logger;
  clock: Clock;
  ids: IdGenerator;
  health: HealthService;
  kernelInfo: { name: string; version: string; startedAt: number; basePath: string };
  /** Every enabled plugin's permissions, with the plugin that declares each. */
  permissionCatalog: Array<PermissionDefinition & { plugin: string }>;
  publish: Publish;
  /** Stages events in the caller's unit of work `em` (stored by its next flush). */
  publishIn: (em: EntityManager) => Publish;
  secrets: Secrets;
  lifecycle: Lifecycle;
  orm: MikroORM;
  metrics: PluginMetrics;
  cache: Cache;
  eventBus: EventBus;
  rateLimiter: RateLimiter;
  mailer: Mailer;
  egress: Egress;
  payments: PaymentGateway;
  /** Ephemeral fan-out across instances (`adapters.pubsub`). */
  pubsub: PubSub;
  jobQueue: JobQueue;
  /** Enqueue jobs of any enabled plugin's declared types (kernel/jobs/types.ts). */
  jobs: Jobs;
  /** The deployment's AI providers by name (adapters.aiProvider; `local` by default). */
  aiProvider: AiProviders;
}

/** Added in request scope: what scoped services and handlers may use. */
export interface RequestCradle {
  em: EntityManager;
  db: FastReads;
  principal: Principal | undefined;
  requestId: string;
  log: Logger;
  publish: Publish;
}
