import type { Context } from 'koa';
import type { Logger } from 'pino';
import { asFunction, Lifetime, type AwilixContainer } from 'awilix';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Principal, RequestContext, UntypedCradle } from '../plugin.ts';
import type { DomainEvent } from '../ports/eventBus.ts';
import { errors } from '../errors.ts';
import {
  countFlushes, nothingToFlush, onlyEventsPending, PublishAfterFlushError, strictUnitOfWork,
} from '../events/unitOfWork.ts';
import type { FastReadPath, FastReads, ReadSource } from '../storage/fastReads.ts';
import { createStagedRows, flushInserts, hasStagedRows } from '../storage/insertFlush.ts';
import { ownerScopeOf, scopeToPrincipal, type OwnerScope } from '../storage/ownership.ts';
import { RequestScope } from './requestScope.ts';

/** What a plugin runs with: its own container, logger and event publisher. */
export interface PluginRuntime {
  name: string;
  /** Builds a domain event named `<plugin>.*` (throws for another prefix). */
  makeEvent<T>(type: string, data: T, options?: { key?: string }): DomainEvent<T>;
  /** Set when events go through the transactional outbox. */
  outbox?: { stage(em: EntityManager, event: DomainEvent): void; kick(): void };
  container: AwilixContainer<UntypedCradle>;
  /** Whether any service is request-scoped; if none, handlers share the plugin's cradle. */
  hasScoped: boolean;
  logger: Logger;
  publish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>>;
}

const prepared = new WeakSet<AwilixContainer>();

/**
 * Registers, once per plugin container, the names a request scope offers (`em`, `db`,
 * `principal`, `requestId`, `log`, `publish`) as scoped names. A request's RequestScope
 * answers them itself; registered, they make a singleton that asks for one fail as awilix's
 * strict mode says (a shorter lifetime than its own), as before.
 */
function registerRequestResolvers(container: AwilixContainer): void {
  if (prepared.has(container)) return;
  prepared.add(container);
  const onlyInRequest = asFunction(() => {
    throw new Error('request names (em, db, principal, requestId, log, publish) resolve only in a request');
  }).scoped();
  container.register({
    em: onlyInRequest, db: onlyInRequest, principal: onlyInRequest,
    requestId: onlyInRequest, log: onlyInRequest, publish: onlyInRequest,
  });
}

/** The views' shared target: extensible (proxy invariants), never written (the `set` trap refuses). */
const EMPTY = {};

/** Names registered as singletons in a plugin's container (registrations are fixed once the plugins started). */
const singletonNames = new WeakMap<AwilixContainer, Set<PropertyKey>>();
function singletonsOf(container: AwilixContainer): Set<PropertyKey> {
  let names = singletonNames.get(container);
  if (!names) {
    names = new Set(Object.entries(container.registrations)
      .filter(([, r]) => r.lifetime === Lifetime.SINGLETON).map(([name]) => name));
    singletonNames.set(container, names);
  }
  return names;
}

/**
 * `ctx.services` of a plugin with request-scoped services (a class: no closures per request):
 * a singleton resolves from the plugin's container, anything else from the request scope.
 */
class ServicesView implements ProxyHandler<object> {
  private readonly singletons: Set<PropertyKey>;
  constructor(private readonly request: HttpRequestContext, private readonly container: AwilixContainer) {
    this.singletons = singletonsOf(container);
  }
  get(_target: object, name: PropertyKey): unknown {
    if (this.singletons.has(name)) return (this.container.cradle as Record<PropertyKey, unknown>)[name];
    return this.request.scoped().resolve(name);
  }
  set(_target: object, name: PropertyKey): boolean {
    throw new Error(`ctx.services.${String(name)} cannot be assigned`);
  }
  has(_target: object, name: PropertyKey): boolean { return Reflect.has(this.request.scoped().cradle, name); }
  ownKeys(): ArrayLike<string | symbol> { return Reflect.ownKeys(this.request.scoped().cradle); }
  getOwnPropertyDescriptor(_target: object, name: PropertyKey): PropertyDescriptor | undefined {
    return Reflect.getOwnPropertyDescriptor(this.request.scoped().cradle, name);
  }
}

/** Proxy handler (a class: no closures made per request) forwarding to the request's fork, made on first touch. */
class LazyEm implements ProxyHandler<EntityManager> {
  private bound?: Map<PropertyKey, unknown>;
  constructor(private readonly request: HttpRequestContext) {}
  get(_target: EntityManager, prop: PropertyKey): unknown {
    const em = this.request.em;
    const value = Reflect.get(em, prop, em);
    if (typeof value !== 'function') return value;
    this.bound ??= new Map();
    let fn = this.bound.get(prop);
    if (!fn) this.bound.set(prop, (fn = (value as (...a: unknown[]) => unknown).bind(em)));
    return fn;
  }
  set(_target: EntityManager, prop: PropertyKey, value: unknown): boolean {
    return Reflect.set(this.request.em, prop, value);
  }
  has(_target: EntityManager, prop: PropertyKey): boolean { return Reflect.has(this.request.em, prop); }
}

/**
 * The per-request context handed to handlers. The forked EntityManager and the request
 * scope are made on first use, so an operation that needs neither pays for neither.
 */
export class HttpRequestContext implements RequestContext, ReadSource {
  principal?: Principal;
  /** Events staged in this request's unit of work, flushed after the handler if it did not. */
  staged = 0;
  private forkedEm?: EntityManager;
  private flushes?: { count: number };
  private scope?: RequestScope;
  private reads?: FastReads;
  private ownerScopeMade?: OwnerScope;
  private ownerScopeFor?: Principal;

  constructor(
    readonly koa: Context,
    readonly requestId: string,
    readonly operationId: string,
    readonly log: Logger,
    private runtime: PluginRuntime,
    private orm: MikroORM | undefined,
    private fastReads?: FastReadPath,
  ) {}

  /** Prepared reads without the EntityManager (kernel/storage/fastReads.ts); they follow `em`'s transaction, if any. */
  get db(): FastReads {
    if (!this.reads) {
      if (!this.fastReads) throw errors.unavailable('database');
      this.reads = this.fastReads.bindTo(this);
    }
    return this.reads;
  }

  /** The fork, if made (`db` follows its transaction). */
  currentEm(): EntityManager | undefined { return this.forkedEm; }

  /** Owned entities' scope for `db`: the principal's. */
  ownerScope(): OwnerScope {
    // Made once per principal (each fast read asks); recomputed if `principal` is reassigned.
    if (this.ownerScopeMade === undefined || this.ownerScopeFor !== this.principal) {
      this.ownerScopeMade = ownerScopeOf(this.principal);
      this.ownerScopeFor = this.principal;
    }
    return this.ownerScopeMade;
  }

  get em(): EntityManager {
    if (!this.forkedEm) {
      if (!this.orm) throw errors.unavailable('database');
      this.forkedEm = scopeToPrincipal(this.orm.em.fork(), this.principal);
      if (this.runtime.outbox) this.flushes = countFlushes(this.forkedEm);
    }
    return this.forkedEm;
  }

  get services(): unknown {
    if (!this.runtime.hasScoped) return this.runtime.container.cradle;
    // A view: singletons come from the plugin's container, and the request scope (an awilix
    // container, the costly part) is made only when a scoped service or request name is read.
    return (this.view ??= new Proxy(EMPTY, new ServicesView(this, this.runtime.container)));
  }

  private view?: object;

  /** The request scope, made on first use. */
  scoped(): RequestScope {
    if (!this.scope) {
      registerRequestResolvers(this.runtime.container);
      this.scope = new RequestScope(this, this.runtime.container);
    }
    return this.scope;
  }

  /**
   * The `em` scoped services get: forks on first use, so a service made for a request that
   * only reads through `db` (or not at all) costs no fork.
   */
  lazyEm(): EntityManager {
    if (this.forkedEm || !this.orm) return this.em;
    return new Proxy(this.orm.em, new LazyEm(this));
  }

  /**
   * With the outbox, the event joins this request's unit of work: stored atomically with a
   * flush that follows, or by the kernel's flush after the handler, before the response.
   */
  get publish(): <T>(type: string, data: T, options?: { key?: string }) => Promise<DomainEvent<T>> {
    // A getter so that `({ body }, { publish }) => ...` works: bound once, and only when used.
    return (this.boundPublish ??= this.stagePublish.bind(this));
  }

  private boundPublish?: <T>(type: string, data: T, options?: { key?: string }) => Promise<DomainEvent<T>>;

  private async stagePublish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>> {
    if (!this.runtime.outbox || !this.orm) return this.runtime.publish(type, data, options);
    const event = this.runtime.makeEvent(type, data, options);
    this.runtime.outbox.stage(this.em, event);
    this.staged++;
    return event;
  }

  /** Called by the kernel after the handler: stores staged events and wakes the relay. */
  async settle(): Promise<void> {
    if (!this.staged) return;
    const flushed = (this.flushes?.count ?? 0) > 0;
    if (flushed) createStagedRows(this.em); // the check below reads the unit of work's change sets
    const late = flushed && onlyEventsPending(this.em);
    // Events staged as data and nothing else pending: the insert path; else (a change left pending) the flush.
    if (hasStagedRows(this.em)) await flushInserts(this.em);
    // After the insert path wrote the rows (records().create), an empty flush would only diff them: skipped.
    else if (!nothingToFlush(this.em)) await this.em.flush();
    this.runtime.outbox!.kick();
    if (late) {
      const err = new PublishAfterFlushError(this.operationId);
      if (strictUnitOfWork()) throw err;
      this.log.error({ err }, 'event published after flush');
    }
  }
}
