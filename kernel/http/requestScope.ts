import { AwilixResolutionError, Lifetime, type AwilixContainer, type Resolver } from 'awilix';

/** The names a request offers its scoped services, read from the request itself. */
export interface RequestNames {
  lazyEm(): unknown;
  readonly db: unknown;
  readonly principal?: unknown;
  readonly requestId: string;
  readonly log: unknown;
  readonly publish: unknown;
}

const REQUEST_NAMES = ['em', 'db', 'principal', 'requestId', 'log', 'publish'];

/** The plugin container's scoped registrations, looked up once (registrations are fixed once the plugins started). */
const scopedOf = new WeakMap<AwilixContainer, Map<PropertyKey, Resolver<unknown>>>();
function scopedRegistrations(container: AwilixContainer): Map<PropertyKey, Resolver<unknown>> {
  let found = scopedOf.get(container);
  if (!found) {
    found = new Map();
    for (const [name, r] of Object.entries(container.registrations)) {
      if (r.lifetime === Lifetime.SCOPED) found.set(name, r as Resolver<unknown>);
    }
    scopedOf.set(container, found);
  }
  return found;
}

/**
 * A request's scope over a plugin's container, doing what awilix's `createScope()` does for
 * it at a fraction of the cost (a scope there is a new container: a proxy and some twenty
 * closures per request): the request's names (`em`, `db`, `principal`, `requestId`, `log`,
 * `publish`) from the request, a scoped service made once per request with this scope as its
 * cradle, anything else (ports, singletons, exports, and unknown names' errors) from the
 * plugin's container. A class, so the request pays one object and one proxy.
 */
export class RequestScope implements ProxyHandler<object> {
  /** What a resolver reads of the container it resolves in (PROXY injection: `options` and `cradle`). */
  readonly options: AwilixContainer['options'];
  readonly cradle: object;
  private made?: Map<PropertyKey, unknown>;
  private resolving?: Array<string | symbol>;
  private readonly scoped: Map<PropertyKey, Resolver<unknown>>;

  constructor(private readonly request: RequestNames, private readonly container: AwilixContainer) {
    this.options = container.options;
    this.scoped = scopedRegistrations(container);
    this.cradle = new Proxy({}, this);
  }

  resolve(name: PropertyKey): unknown {
    switch (name) {
      case 'em': return this.request.lazyEm();
      case 'db': return this.request.db;
      case 'principal': return this.request.principal;
      case 'requestId': return this.request.requestId;
      case 'log': return this.request.log;
      case 'publish': return this.request.publish;
    }
    const resolver = this.scoped.get(name);
    if (!resolver) return (this.container.cradle as Record<PropertyKey, unknown>)[name];
    if (this.made?.has(name)) return this.made.get(name);
    const stack = (this.resolving ??= []);
    if (stack.includes(name as string)) {
      const trail = stack.map((n) => ({ name: n, lifetime: Lifetime.SCOPED }));
      stack.length = 0;
      throw new AwilixResolutionError(name as string, trail, 'Cyclic dependencies detected.');
    }
    stack.push(name as string);
    try {
      const value = resolver.resolve(this as unknown as AwilixContainer);
      (this.made ??= new Map()).set(name, value);
      return value;
    } finally {
      stack.pop();
    }
  }

  get(_target: object, name: PropertyKey): unknown { return this.resolve(name); }
  set(_target: object, name: PropertyKey): boolean {
    throw new Error(`Attempted setting property "${String(name)}" on container cradle - this is not allowed.`);
  }
  has(_target: object, name: PropertyKey): boolean {
    return REQUEST_NAMES.includes(name as string) || this.container.hasRegistration(name as string);
  }
  ownKeys(): ArrayLike<string | symbol> {
    return [...new Set([...REQUEST_NAMES, ...Reflect.ownKeys(this.container.registrations)])];
  }
  getOwnPropertyDescriptor(_target: object, name: PropertyKey): PropertyDescriptor | undefined {
    return this.has(_target, name) ? { enumerable: true, configurable: true } : undefined;
  }
}
