/**
 * Typed services, in the manner of Backstage's service refs: a plugin lists its services one by
 * one, each factory seeing the kernel's ports, its config, what its required plugins export (typed
 * by their `api.ts`) and the services listed before it. The plugin's cradle type follows from the
 * factories' return types, so `services.notes.lsit()` fails tsc.
 *
 *   const services = defineServices<{ config: NotesConfig; requires: IdentityExports }>()
 *     .singleton('clockText', ({ clock }) => () => clock.date().toISOString())
 *     .scoped('notes', ({ em, principal, clockText }) => new NotesService(em, principal, clockText));
 *   definePlugin({ name: 'notes', services, handlers: defineHandlers<Operations, typeof services>({ ... }) })
 */
import type { ServiceSpec } from '../plugin.ts';
import type { KernelCradle, RequestCradle } from './cradle.ts';

/** What a plugin states about its container: its config type and the services it gets from `requires`. */
export interface ServiceDeps {
  config?: unknown;
  requires?: object;
}

type ConfigOf<D extends ServiceDeps> = D extends { config: infer C } ? C : unknown;
type RequiresOf<D extends ServiceDeps> = D extends { requires: infer R } ? R : unknown;
/** The container before any of the plugin's own services: ports, config and required exports. */
export type BaseCradle<D extends ServiceDeps = ServiceDeps> = KernelCradle<ConfigOf<D>> & RequiresOf<D>;

declare const CRADLE: unique symbol;

/**
 * The plugin's services (a plain record of specs the kernel registers) that also carries, for
 * the type checker only, the cradle its singletons see (`Root`: hooks, auth schemes) and the one
 * its handlers see (`Scope`: every service plus the request's members).
 */
export type ServiceSet<Root extends object = object, Scope extends object = object> = Record<string, ServiceSpec> & {
  readonly [CRADLE]?: { bivariant(root: Root, scope: Scope): void }['bivariant'];
};

/** A service set that lists one more service with each call; the specs are its enumerable members. */
export type ServiceBuilder<Root extends object, Scope extends object> = ServiceSet<Root, Scope> & {
  /** A service that lives as long as the kernel; it sees only singletons (no request members). */
  singleton<N extends string, T>(name: N, factory: (cradle: Root) => T,
    options?: { dispose?: (instance: T) => Promise<void> | void },
  ): ServiceBuilder<Root & Record<N, T>, Scope & Record<N, T>>;
  /** A service made once per request: it may use `em`, `principal`, `requestId` and every earlier service. */
  scoped<N extends string, T>(name: N, factory: (cradle: Scope) => T): ServiceBuilder<Root, Scope & Record<N, T>>;
};

/** Starts a plugin's typed service list (see the module comment); pass the result as `services`. */
export function defineServices<D extends ServiceDeps = ServiceDeps>():
  ServiceBuilder<BaseCradle<D>, BaseCradle<D> & RequestCradle> {
  return builder({});
}

function builder<Root extends object, Scope extends object>(
  specs: Record<string, ServiceSpec>,
): ServiceBuilder<Root, Scope> {
  const add = (name: string, spec: ServiceSpec) => {
    if (name in specs || name === 'singleton' || name === 'scoped') {
      throw new Error(`service "${name}" is listed twice or is reserved`);
    }
    return builder({ ...specs, [name]: spec });
  };
  const methods = {
    singleton: (name: string, factory: ServiceSpec['factory'], options?: Pick<ServiceSpec, 'dispose'>) =>
      add(name, { factory, lifetime: 'singleton', ...options }),
    scoped: (name: string, factory: ServiceSpec['factory']) => add(name, { factory, lifetime: 'scoped' }),
  };
  // The methods are not enumerable: the kernel registers exactly the specs.
  return Object.defineProperties({ ...specs }, {
    singleton: { value: methods.singleton, enumerable: false },
    scoped: { value: methods.scoped, enumerable: false },
  }) as unknown as ServiceBuilder<Root, Scope>;
}

/** The cradle a service set's singletons, hooks and auth schemes see. */
export type RootCradleOf<S> = S extends ServiceSet<infer Root, infer _Scope> ? Root : BaseCradle;
/** The cradle handlers see through `ctx.services`: every service and the request's members. */
export type ScopeCradleOf<S> = S extends ServiceSet<infer _Root, infer Scope> ? Scope : S;
