/**
 * The plugin API: everything a plugin may import from the kernel. Plugins import this
 * module (and kernel/ports/*, kernel/errors.ts), never other kernel internals.
 */
export { definePlugin, reply, rawReply, isReply } from './plugin.ts';
export type {
  PluginDefinition, Handler, HandlerRequest, RequestContext, Principal, Page, ServiceSpec, ServiceFactory,
  SubscriberDefinition, SubscriberContext, PermissionDefinition, Reply, Authenticator, AuthInput,
} from './plugin.ts';
export { AppError, errors } from './errors.ts';
export type { ErrorDetail } from './errors.ts';
export { defineEntity } from './storage/entity.ts';
export type { EntitySpec, PropertySpec, IndexSpec } from './storage/entity.ts';
export type { Migration } from './storage/migrations.ts';
export type { FastReads, Where, FindOptions } from './storage/fastReads.ts';
export type { Cache } from './ports/cache.ts';
export type { EventBus, DomainEvent } from './ports/eventBus.ts';
export type { Clock } from './ports/clock.ts';
export type { IdGenerator } from './ports/ids.ts';
export { encodeCursor, decodeCursor } from './paging.ts';
export type { RateLimiter, RateLimitPolicy, RateLimitDecision } from './ports/rateLimiter.ts';
export type { Mailer, MailMessage } from './ports/mailer.ts';
export { hasPermissions } from './http/security.ts';
export { deferCheck } from './http/deferredChecks.ts';
