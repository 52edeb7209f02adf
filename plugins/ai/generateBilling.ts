/**
 * Billing for the generation jobs that do not go through the gateway's chat (structured output and images): the
 * same order as the gateway's (route for the tier, hold before the call, capture the exact cost after, one usage
 * event), over the ledger and metering the ai plugin requires. The hold covers the dearest candidate, so a
 * fallback can never cost more than what was held.
 */
import { AppError, type AiProvider, type AiProviders, type Principal } from '../../kernel/index.ts';
import type { EntityManager } from '@mikro-orm/core';
import type { Ledger, Subscriptions } from '../billing/api.ts';
import { enforce, type Limits, type Metering } from '../metering/api.ts';
import type {
  AiModel, ImageAsk, ModelCatalog, ModelType, RouteAttempt, Router, UserKey, UserKeyRegistry,
} from './api.ts';

/** A type, not an interface: job definitions need an index-signature-compatible services type. */
export type GenerationServices = {
  modelCatalog: ModelCatalog;
  aiRouter: Router;
  aiProvider: AiProviders;
  ledger: Ledger;
  metering: Metering;
  limits: Limits;
  subscriptions: Subscriptions;
  aiUserKeys: UserKeyRegistry;
};

/** The job's owner as a principal: their tier is their plan's now (the job may run long after it was asked for). */
export async function ownerPrincipal(ownerId: string | null, s: GenerationServices): Promise<Principal> {
  if (!ownerId) throw new AppError(400, 'OWNER_REQUIRED', 'A generation job must belong to a user');
  const { plan } = await s.subscriptions.current(ownerId);
  return { type: 'user', id: ownerId, permissions: [], tier: plan.limits.rateLimitTier };
}

export interface BilledCall<T> {
  principal: Principal;
  type: ModelType;
  model?: string;
  /** For routing (the task classifier) and the input estimate. */
  prompt: string;
  /** The output the hold must cover, in tokens (all attempts together). */
  maxOutputTokens: number;
  reference: { kind: string; id: string };
  idempotencyKey: string;
  em: EntityManager;
  /** With the user's own key: only that vendor's models, no hold, nothing charged; the usage is still recorded. */
  userKey?: UserKey;
  /** Image calls: priced per image (the model's `imagePrices`) rather than per token. */
  images?: ImageAsk & { count(value: NoInfer<T>): number };
  run(provider: AiProvider, model: AiModel, apiKey?: string): Promise<T>;
  usageOf(value: T): { input: number; output: number };
}

export async function billedCall<T>(c: BilledCall<T>, s: GenerationServices):
  Promise<{ value: T; model: AiModel; costMicros: number; attempts: RouteAttempt[] }> {
  const tier = s.modelCatalog.tierOf(c.principal);
  const plan = servedBy(await s.aiRouter.route({ model: c.model, text: c.prompt, tier, type: c.type }), c.userKey);
  const estimate = (m: AiModel) => c.images ? s.modelCatalog.imageCostMicros(m, c.images)
    : s.modelCatalog.costMicros(m, { input: inputTokens(s, m, c.prompt), output: c.maxOutputTokens });
  const dearest = Math.max(...plan.candidates.map(estimate));
  const holdMicros = c.userKey ? 0 : dearest;
  // The plan's limits, as the gateway checks them: the tokens asked for (images count none), the cost if charged.
  const tokens = c.images ? 0 : inputTokens(s, plan.model, c.prompt) + c.maxOutputTokens;
  enforce(await s.limits.check(c.principal.id, { tokens, ...(c.userKey ? {} : { costMicros: dearest }) }));
  const reference = `${c.reference.kind}:${c.reference.id}`;
  const hold = holdMicros > 0
    ? await s.ledger.hold(c.principal.id, holdMicros, { idempotencyKey: c.idempotencyKey, reference })
    : undefined;
  try {
    const { value, model, attempts } = await s.aiRouter.run(plan, (provider, model) =>
      c.run(provider, model, c.userKey?.apiKey));
    const usage = c.usageOf(value);
    const price = c.images ? s.modelCatalog.imageCostMicros(model, { ...c.images, n: c.images.count(value) })
      : s.modelCatalog.costMicros(model, usage);
    const costMicros = Math.min(price, holdMicros);
    const event = (charged: number) => ({ userId: c.principal.id, kind: 'generation', subject: model.id,
      tokensIn: usage.input, tokensOut: usage.output, costMicros: charged, reference, status: 'ok' as const });
    if (hold && s.metering.insert) {
      // The charge and its usage row commit together (one transaction), or neither does.
      const insert = s.metering.insert.bind(s.metering);
      await s.ledger.capture(hold.id, costMicros, { userId: hold.userId,
        within: (tx, entry) => insert(tx, event(-entry.amountMicros)) });
    } else {
      if (hold) await s.ledger.capture(hold.id, costMicros);
      s.metering.record(c.em, event(costMicros));
    }
    await c.em.flush();
    return { value, model, costMicros, attempts };
  } catch (e) {
    if (hold) await s.ledger.release(hold.id);
    throw e;
  }
}

/** The input a hold covers: the prompt counted (twice: a repair retry resends it) plus room for the wrapping. */
function inputTokens(s: GenerationServices, m: AiModel, prompt: string): number {
  const input = s.aiProvider.has(m.provider) ? s.aiProvider.get(m.provider).countTokens(prompt) : prompt.length;
  return input * 2 + 50;
}

/** With the user's own key, only the candidates that key's vendor serves (400 when the route has none). */
function servedBy<P extends { model: AiModel; candidates: AiModel[] }>(plan: P, key: UserKey | undefined): P {
  if (!key) return plan;
  const candidates = plan.candidates.filter((m) => m.provider === key.provider);
  if (!candidates.length) {
    throw new AppError(400, 'MODEL_NOT_SERVED_BY_KEY', `No candidate model is served by ${key.provider}`, {
      details: { provider: key.provider, models: plan.candidates.map((m) => m.id) } });
  }
  return { ...plan, model: candidates[0], candidates };
}
