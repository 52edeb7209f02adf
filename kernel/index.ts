/**
 * The plugin API: everything a plugin may import from the kernel. Plugins import this
 * module (and kernel/ports/*, kernel/errors.ts), never other kernel internals.
 */
export { definePlugin, reply, rawReply, isReply } from './plugin.ts';
export type {
  PluginDefinition, Handler, HandlerRequest, RequestContext, Principal, Page, ServiceSpec, ServiceFactory,
  SubscriberDefinition, SubscriberContext, PermissionDefinition, Reply, Authenticator, AuthInput,
} from './plugin.ts';
export type { PrincipalEnricher } from './plugin.ts';
export type { UpgradeRequest, UpgradeHandler } from './plugin.ts';
export type { PubSub, PubSubHandler } from './ports/pubsub.ts';
export type { Lifecycle } from './inflight.ts';
export type { EventDefinition } from './plugin.ts';
export { defineServices } from './types/services.ts';
export type {
  ServiceSet, ServiceBuilder, ServiceDeps, BaseCradle, RootCradleOf, ScopeCradleOf,
} from './types/services.ts';
export { defineHandlers } from './types/handlers.ts';
export type { OperationTypes, TypedHandler, TypedHandlers } from './types/handlers.ts';
export type { KernelCradle, RequestCradle, Publish } from './types/cradle.ts';
export { AppError, errors } from './errors.ts';
export type { ErrorDetail } from './errors.ts';
export type { ErrorRenderer, RenderableError, RenderedError } from './http/errorFormat.ts';
export { defineEntity } from './storage/entity.ts';
export { p } from './storage/define.ts';
export type { RowOf, CreateOf, ViewOf, EventOf, Prop, DefinedEntity } from './storage/define.ts';
export { records } from './storage/records.ts';
export type { Records, RecordsOptions, RecordsCradle, Filter } from './storage/records.ts';
export { unscoped, scopedTo, OWNER_FILTER } from './storage/ownership.ts';
export { whereHasTag } from './storage/tags.ts';
export type { EntitySpec, PropertySpec, IndexSpec } from './storage/entity.ts';
export type { Migration } from './storage/migrations.ts';
export type { FastReads, Where, FindOptions } from './storage/fastReads.ts';
export { flushInserts } from './storage/insertFlush.ts';
export { directTransaction } from './storage/directTransaction.ts';
export type { Cache } from './ports/cache.ts';
export type { EventBus, DomainEvent } from './ports/eventBus.ts';
export type { Clock } from './ports/clock.ts';
export type { IdGenerator } from './ports/ids.ts';
export { encodeCursor, decodeCursor, paginate, MAX_PAGE_LIMIT } from './paging.ts';
export type { PageRequest, Pagination } from './paging.ts';
export type { RateLimiter, RateLimitPolicy, RateLimitDecision } from './ports/rateLimiter.ts';
export type { Mailer, MailMessage } from './ports/mailer.ts';
export type { Egress, EgressRequest, EgressResponse } from './ports/egress.ts';
export type { Secrets } from './ports/secrets.ts';
export { hasPermissions } from './http/security.ts';
export { beyondHeld, holdsAll, narrowTo } from './grants.ts';
export { PRINCIPAL_KINDS, assertCredentialAllowed, principalKind } from './http/principalTypes.ts';
export type { CredentialType, CredentialDefinition, PrincipalKind } from './http/principalTypes.ts';
export type { FinishedRequest, RequestObserver, RequestObserverDefinition } from './http/observers.ts';
export type { PluginMetrics, MetricOptions } from './metrics/metrics.ts';
export type { Counter, Gauge, Histogram } from 'prom-client';
export { deferCheck } from './http/deferredChecks.ts';
export { defineJob } from './jobs/types.ts';
export type {
  JobDefinition, JobContext, JobRun, AskOptions, ScheduleDefinition, Jobs, JobEvent, EnqueueOptions, Priority,
} from './jobs/types.ts';
export type { JobQueue, JobRecord, JobStatus, JobLogEntry, JobStats, JobDecision } from './ports/jobQueue.ts';
export type {
  AiProvider, AiProviders, AiCapability, ChatMessage, ChatRequest, ChatResult, ChatStreamEvent, CallOptions,
  StructuredRequest, StructuredResult, EmbeddingRequest, EmbeddingResult, ImageRequest, ImageResult,
  TranscriptionRequest, TranscriptionResult, ModerationRequest, ModerationResult, ModerationHit, ModerationCategory,
  Severity, Usage, FinishReason, AiErrorKind,
} from './ports/aiProvider.ts';
export { AiError, isAiError } from './ports/aiProvider.ts';
export {
  createStreamModerator, type StreamModerator, type StreamModeratorOptions,
} from './ports/aiStreamModeration.ts';
