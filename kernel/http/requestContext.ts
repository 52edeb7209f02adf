import type { Context } from 'koa';
import type { Logger } from 'pino';
import { asFunction, asValue, type AwilixContainer } from 'awilix';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Principal, RequestContext } from '../plugin.ts';
import type { DomainEvent } from '../ports/eventBus.ts';
import { errors } from '../errors.ts';
import type { FastReadPath, FastReads } from '../storage/fastReads.ts';

/** What a plugin runs with: its own container, logger and event publisher. */
export interface PluginRuntime {
  name: string;
  /** Builds a domain event named `<plugin>.*` (throws for another prefix). */
  makeEvent<T>(type: string, data: T, options?: { key?: string }): DomainEvent<T>;
  /** Set when events go through the transactional outbox. */
  outbox?: { stage(em: EntityManager, event: DomainEvent): void; kick(): void };
  container: AwilixContainer;
  /** Whether any service is request-scoped; if none, handlers share the plugin's cradle. */
  hasScoped: boolean;
  logger: Logger;
  publish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>>;
}

/**
 * The per-request context handed to handlers. The forked EntityManager and the request
 * scope are made on first use, so an operation that needs neither pays for neither.
 */
export class HttpRequestContext implements RequestContext {
  principal?: Principal;
  /** Events staged in this request's unit of work, flushed after the handler if it did not. */
  staged = 0;
  private forkedEm?: EntityManager;
  private scope?: AwilixContainer;
  private reads?: FastReads;

  constructor(
    readonly koa: Context,
    readonly requestId: string,
    readonly operationId: string,
    readonly log: Logger,
    private runtime: PluginRuntime,
    private orm: MikroORM | undefined,
    private fastReads?: FastReadPath,
  ) {}

  /** Prepared reads without the EntityManager (kernel/storage/fastReads.ts); they follow `em`'s transaction once it has one. */
  get db(): FastReads {
    if (!this.reads) {
      if (!this.fastReads) throw errors.unavailable('database');
      this.reads = this.fastReads.bind(() => this.forkedEm);
    }
    return this.reads;
  }

  get em(): EntityManager {
    if (!this.forkedEm) {
      if (!this.orm) throw errors.unavailable('database');
      this.forkedEm = this.orm.em.fork();
    }
    return this.forkedEm;
  }

  get services(): any {
    if (!this.runtime.hasScoped) return this.runtime.container.cradle;
    if (!this.scope) {
      this.scope = this.runtime.container.createScope();
      this.scope.register({
        em: asFunction(() => this.em).scoped(),
        db: asFunction(() => this.db).scoped(),
        principal: asValue(this.principal),
        requestId: asValue(this.requestId),
        log: asValue(this.log),
        publish: asValue(this.publish.bind(this)),
      });
    }
    return this.scope.cradle;
  }

  /**
   * With the outbox, the event joins this request's unit of work: stored atomically with a
   * flush that follows, or by the kernel's flush after the handler, before the response.
   */
  async publish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>> {
    if (!this.runtime.outbox || !this.orm) return this.runtime.publish(type, data, options);
    const event = this.runtime.makeEvent(type, data, options);
    this.runtime.outbox.stage(this.em, event);
    this.staged++;
    return event;
  }

  /** Called by the kernel after the handler: stores staged events and wakes the relay. */
  async settle(): Promise<void> {
    if (!this.staged) return;
    await this.em.flush();
    this.runtime.outbox!.kick();
  }
}
