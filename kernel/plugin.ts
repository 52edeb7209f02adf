import type { Context as KoaContext } from 'koa';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AppError } from './errors.ts';
import type { ErrorRenderer } from './http/errorFormat.ts';
import type { Logger } from 'pino';
import type { EntityManager } from '@mikro-orm/core';
import type { JsonSchema } from './ports/adapter.ts';
import type { DomainEvent } from './ports/eventBus.ts';
import type { EntitySpec } from './storage/entity.ts';
import type { Migration } from './storage/migrations.ts';
import type { CredentialDefinition, CredentialType } from './http/principalTypes.ts';
import type { RequestObserverDefinition } from './http/observers.ts';
import type { PageRequest } from './paging.ts';
import type { FastReads } from './storage/fastReads.ts';
import type { KernelCradle } from './types/cradle.ts';
import type { ServiceSet } from './types/services.ts';
import type { JobDefinition, ScheduleDefinition } from './jobs/types.ts';

/** Who is calling. Filled by an authentication scheme; absent on public operations. */
export interface Principal {
  /**
   * `user` when it acts for a user (its `id` is the user's: a session, an API key, an OAuth
   * user token); anything else (e.g. `client`) when it acts for itself. See `x-principal`.
   */
  type: string;
  /** The acting subject (the user behind a token or key, or the OAuth client). */
  id: string;
  /** Granted permissions; `*` grants all. */
  permissions: string[];
  /** Rate-limit tier, a key of the deployment's `rateLimit.tiers`; `rateLimit.defaultTier` when absent. */
  tier?: string;
  /** What rate limits are counted against, e.g. `key:<id>`, `user:<id>`, `client:<id>`. */
  rateLimitKey?: string;
  /** A per-credential policy that narrows the tier's (per-key limits); never wider than the tier. */
  rateLimit?: { limit: number; windowMs: number };
  /** A second bucket counted at the tier's policy, shared by all of a user's credentials (`user:<id>`). */
  budgetKey?: string;
  /** The credential type (one a plugin declares in `credentials`), checked against an operation's `x-principal`. */
  credential?: CredentialType;
  [claim: string]: unknown;
}

/** What an authentication scheme sees of a request. */
export interface AuthInput {
  headers: Record<string, string | string[] | undefined>;
  ip: string;
  operationId: string;
  /** The operation's `x-permissions`, for schemes that demand more for some (e.g. a recent MFA). */
  permissions: string[];
}
/**
 * Checks one security scheme of the contract (`bearerAuth`, `apiKey`...). Resolves
 * undefined when the request carries no credential for it; throws a 401 AppError when it
 * carries a bad one.
 */
export type Authenticator = (input: AuthInput) => Promise<Principal | undefined>;
/**
 * Runs on every authenticated principal, after its scheme and before permissions and rate limits:
 * it may set claims such as `tier` (billing: the active plan's rate-limit tier). Changes the object in
 * place (it may carry a deferred check). Throwing refuses the request.
 */
export type PrincipalEnricher = (principal: Principal) => Promise<void> | void;

/** Untyped plugins' input, services and cradle; typed ones get theirs from kernel/types/. */
type Loose = unknown;

/** The validated input of an operation. Path and query values are already coerced to their schema types. */
export interface HandlerRequest<Body = Loose, Query = Loose, Params = Loose> {
  params: Params;
  query: Query;
  body: Body;
  headers: Record<string, string | string[] | undefined>;
  /** For operations marked `x-paging: true`: the list request in the deployment's paging style (for `paginate`). */
  paging?: PageRequest;
  /** For operations marked `x-raw-body: true`: the body as received (UTF-8), e.g. to check a webhook signature. */
  rawBody?: string;
}

/** Everything a handler may use besides its input. Costly members are created on first use. */
export interface RequestContext<Services = Loose> {
  requestId: string;
  operationId: string;
  principal?: Principal;
  log: Logger;
  /** An EntityManager forked for this request. */
  readonly em: EntityManager;
  /** Prepared reads for hot paths: plain rows, no identity map (see the README's plugin walkthrough). */
  readonly db: FastReads;
  /** This plugin's container, scoped to this request (its services, the ports, what it requires). */
  readonly services: Services;
  /** Publishes a domain event `type` with this plugin's name checked as its prefix. */
  publish<T>(type: string, data: T, options?: { key?: string }): Promise<DomainEvent<T>>;
  /** The raw Koa context, for streaming responses, uploads and downloads. */
  koa: KoaContext;
}

/** An HTTP upgrade (WebSocket) arriving on the path of one of the plugin's operations. */
export interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  ip: string;
  requestId: string;
  /**
   * Runs the operation's `security` on `headers` (default: the request's): the principal, undefined when
   * the operation allows anonymous callers and none was sent; throws a 401/403 AppError.
   */
  authenticate(headers?: Record<string, string | string[] | undefined>): Promise<Principal | undefined>;
  /** Answers the upgrade request with an HTTP error in the one format and closes the socket. */
  refuse(error: AppError): void;
}
/** Takes over the socket (e.g. `WebSocketServer.handleUpgrade`); a thrown AppError is sent as `refuse` would. */
export type UpgradeHandler = (upgrade: UpgradeRequest) => void | Promise<void>;

/** A handler of an untyped plugin; `defineHandlers` (kernel/types/handlers.ts) types them per operationId. */
export type Handler = { bivariant(req: HandlerRequest, ctx: RequestContext): unknown }['bivariant'];

const REPLY = Symbol('kernel.reply');
export interface Reply<B = unknown> {
  [REPLY]: true; status: number; body?: B; headers?: Record<string, string>; message?: string; raw?: boolean;
}

/**
 * Sets the status and headers of a response; a handler that returns a plain value gets the
 * contract's first 2xx status.
 */
export function reply(status: number): Reply<undefined>;
export function reply<B>(status: number, body: B, headers?: Record<string, string>, message?: string): Reply<B>;
export function reply<B>(status: number, body?: B, headers?: Record<string, string>, message?: string):
  Reply<B | undefined> {
  return { [REPLY]: true, status, body, headers, message };
}

/**
 * A response written exactly as given, outside the deployment's envelope: for bodies whose
 * shape a standard fixes (OAuth 2.0 token and error responses). Mark the operation
 * `x-envelope: false` so the served document says so too.
 */
export function rawReply(status: number): Reply<undefined>;
export function rawReply<B>(status: number, body: B, headers?: Record<string, string>): Reply<B>;
export function rawReply<B>(status: number, body?: B, headers?: Record<string, string>): Reply<B | undefined> {
  return { [REPLY]: true, status, body, headers, raw: true };
}
export function isReply(v: unknown): v is Reply {
  return typeof v === 'object' && v !== null && (v as Reply)[REPLY] === true;
}

/** A list response: rendered `{ data, pagination }` under the plain envelope. */
export interface Page<T> {
  data: T[];
  pagination: {
    limit: number;
    nextCursor?: string | null;
    total?: number;
    page?: number;
    totalPages?: number;
    hasMore?: boolean;
  };
}

/** Made from the plugin's container; `defineServices` (kernel/types/services.ts) types it from what came before. */
export type ServiceFactory<T = unknown> = { bivariant(cradle: UntypedCradle): T }['bivariant'];
export interface ServiceSpec<T = unknown> {
  factory: ServiceFactory<T>;
  /**
   * `singleton` (default) lives as long as the kernel; `scoped` is made once per request and
   * may use `em`, `principal`, `requestId`.
   */
  lifetime?: 'singleton' | 'scoped';
  /** Called on shutdown for singletons that hold resources. */
  dispose?: (instance: T) => Promise<void> | void;
}

export interface SubscriberContext<Services = UntypedCradle> {
  log: Logger;
  readonly em: EntityManager;
  readonly services: Services;
}
/** `T` is the event's payload, as its declared schema says (`SubscriberDefinition<NoteView>`). */
export interface SubscriberDefinition<T = Loose> {
  /** Event type (topic), e.g. `notes.note.created`. */
  event: string;
  /** Consumer group suffix; the group is `<plugin>.<name>`. Each group gets each event once. */
  name: string;
  handle(event: DomainEvent<T>, ctx: SubscriberContext): Promise<unknown>;
  /**
   * Run at most once per event id in this group: the kernel records (group, event id) in the
   * same flush as the handler's changes to `ctx.em`, and skips a redelivered event.
   */
  idempotent?: boolean;
  /**
   * Events of this group one instance handles at once (default 1). Events with one key (records' events are
   * keyed by the row's id) stay one at a time, in order; others may interleave, as they do across instances.
   * More than 1 lets concurrent deliveries share the database's commits (SQLite's group commit): use it when
   * the handler does not read what another event's handler writes (no find-or-create across keys).
   */
  concurrency?: number;
}

/** An event a plugin publishes: `<plugin>.<entity>.<verb>` and the JSON Schema of its payload. */
export interface EventDefinition {
  name: string;
  schema: JsonSchema;
  description?: string;
}

export interface PermissionDefinition {
  name: string;
  description: string;
  /** Role names that hold it by default; the plugin that defines roles (e.g. identity) decides what they are. */
  roles?: string[];
}

/** The container hooks of a plugin without `defineServices` see: the kernel's ports, its services untyped. */
export type UntypedCradle = KernelCradle & Record<string, unknown>;
type FromCradle<Root, T> = { bivariant(cradle: Root): T }['bivariant'];

/**
 * What a plugin declares. The kernel wires it; the plugin never reaches the kernel's or other plugins' internals.
 * `Root` is the cradle its hooks and auth schemes see, typed from `services` when made by `defineServices`.
 */
export interface PluginDefinition<Root = KernelCradle> {
  name: string;
  version: string;
  description?: string;
  /** Plugins that must start before this one; their exported services become resolvable here. */
  requires?: string[];
  /** JSON Schema of `plugins.<name>` in config (beside `enabled`). */
  config?: JsonSchema;
  /** Contract file(s) in contracts/ (default `<name>.yaml`); `false` when the plugin serves no HTTP. */
  contract?: string | string[] | false;
  /** Serve this plugin's paths at the root instead of under `server.basePath` (health, well-known). */
  mountAtRoot?: boolean;
  entities?: EntitySpec[];
  migrations?: Migration[];
  services?: ServiceSet<Root & object> | Record<string, ServiceFactory | ServiceSpec>;
  /** Names from `services` that plugins requiring this one may resolve. */
  exports?: string[];
  /** Handlers keyed by the contract's operationId (`<plugin>.<operation>`). */
  handlers?: Record<string, Handler>;
  subscribers?: SubscriberDefinition[];
  /** The events this plugin publishes; publishing another, or subscribing to one nobody declares, is an error. */
  events?: EventDefinition[];
  permissions?: PermissionDefinition[];
  /** The credential types this plugin's authenticators set as `principal.credential`, for `x-principal`. */
  credentials?: CredentialDefinition[];
  /** Authenticators for the contract's security schemes, made from the plugin's container. */
  authSchemes?: Record<string, FromCradle<Root, Authenticator>>;
  /** Made from the plugin's container; applied to the principals of every plugin's schemes, in plugin order. */
  principalEnrichers?: Array<FromCradle<Root, PrincipalEnricher>>;
  /** Observers of finished requests (metering, audit): called after each response is sent. */
  observers?: RequestObserverDefinition[];
  /**
   * HTTP upgrades keyed by operationId: a GET with `Upgrade:` on that operation's wire path goes here instead of
   * to its handler (which answers the plain GET, e.g. 426). Made from the plugin's container.
   */
  upgrades?: Record<string, FromCradle<Root, UpgradeHandler>>;
  /** Values the liveness body may show (`health.details` names them), made from the plugin's container. */
  healthDetails?: FromCradle<Root, Record<string, () => unknown | Promise<unknown>>>;
  /**
   * Named error formats (kernel/http/errorFormat.ts `ErrorRenderer`): operations of any plugin that declare
   * `x-error-format: <name>` have every error rendered by it, not in the deployment's format.
   */
  errorFormats?: Record<string, ErrorRenderer>;
  /**
   * Path prefix (as served, e.g. `/v1`) -> one of the error format names: a 404 for a path under it that matches
   * no operation is rendered in that format, unless another plugin's operations use its first segment below the
   * prefix (kernel/http/unmatchedFormat.ts).
   */
  errorFormatPaths?: Record<string, string>;
  onStart?(cradle: Root): Promise<void> | void;
  onStop?(cradle: Root): Promise<void> | void;
  /** Background job types keyed `<plugin>.<type>` (kernel/jobs/types.ts; the README's "Jobs"). */
  jobs?: Record<string, JobDefinition>;
  /** Recurring jobs: `{ name, every | cron, job }`, each slot run once across instances. */
  schedules?: ScheduleDefinition[];
}

/** Declares a plugin; with `services` from `defineServices`, its hooks and auth schemes get the typed cradle. */
export function definePlugin<Root = UntypedCradle>(def: PluginDefinition<Root>): PluginDefinition<Root> {
  return def;
}
