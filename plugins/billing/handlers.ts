import { AppError, defineHandlers, errors, reply, type Principal } from '../../kernel/index.ts';
import type { Operations } from './contract.gen.ts';
import type { BillingServices } from './services.ts';
import { MICROS_PER_CENT } from './api.ts';
import { actsForUser } from './planCache.ts';
import { transactionView } from './reads.ts';

/** The user a request acts for (a session or an API key); other principals own no balance. */
function userOf(principal: Principal | undefined): string {
  if (!principal) throw errors.unauthorized();
  if (!actsForUser(principal)) {
    throw new AppError(
      403,
      'USER_PRINCIPAL_REQUIRED',
      'Billing belongs to users: sign in as one, or use their API key',
    );
  }
  return principal.id;
}

function header(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

export const handlers = defineHandlers<Operations, BillingServices>({
  'billing.listPlans': async (_req, { services }) => ({
    data: (await services.planCatalog.all()).filter((p) => p.visibility === 'public' && p.status === 'active'),
  }),
  'billing.getPlan': async ({ params }, { services }) => services.planCatalog.require(params.planId),
  'billing.adminListPlans': async (_req, { services }) => ({ data: await services.planCatalog.all() }),
  'billing.createPlan': async ({ body }, { services, em, principal }) => {
    const plan = await services.planCatalog.create(em, body);
    await services.billingAudit.record(em, { actorId: principal?.id ?? null, action: 'billing.plan.created',
      targetUserId: null, details: { planId: plan.id } });
    await em.flush();
    return reply(201, plan);
  },
  'billing.updatePlan': async ({ params, body }, { services, em, principal }) => {
    const { before, after } = await services.planCatalog.update(em, params.planId, body);
    await services.billingAudit.record(em, { actorId: principal?.id ?? null, action: 'billing.plan.updated',
      targetUserId: null, details: { planId: params.planId, before, after } });
    await em.flush();
    services.planCache.forget();
    return after;
  },
  'billing.deletePlan': async ({ params }, { services, em, principal }) => {
    const result = await services.planCatalog.remove(em, params.planId);
    await services.billingAudit.record(em, { actorId: principal?.id ?? null,
      action: result.deleted ? 'billing.plan.deleted' : 'billing.plan.retired', targetUserId: null,
      details: { planId: params.planId } });
    await em.flush();
    services.planCache.forget();
    return result;
  },

  'billing.getSubscription': async (_req, { services, principal }) => {
    const { subscription, plan } = await services.subscriptions.current(userOf(principal));
    return { subscription, plan };
  },
  'billing.subscribe': async ({ body }, { services, principal }) => {
    const userId = userOf(principal);
    const pending = await services.paymentGate.pending(userId, body.planId);
    if (pending) return reply(202, pending); // the plan starts when the payment's webhook arrives
    await services.paymentGate.beforeChoose(userId, body.planId);
    const { subscription, change } = await services.subscriptions.choose(userId, body.planId);
    const { plan } = await services.subscriptions.current(userId);
    return { subscription, plan, change: change as 'subscribed' | 'upgraded' | 'downgrade_scheduled' | 'unchanged' };
  },
  'billing.cancelSubscription': async (_req, { services, principal }) => {
    await services.paymentGate.tellProvider(userOf(principal), 'cancel');
    return services.subscriptions.cancel(userOf(principal));
  },
  'billing.resumeSubscription': async (_req, { services, principal }) => {
    await services.paymentGate.tellProvider(userOf(principal), 'resume');
    return services.subscriptions.resume(userOf(principal));
  },
  'billing.adminListSubscriptions': async ({ query, paging }, { services }) =>
    services.billingReads.subscriptions(query, paging!, services.subscriptions, services.identityUsers),
  'billing.adminSetPlan': async ({ params, body }, { services, principal }) => {
    if (!(await services.identityUsers.profiles([params.id])).has(params.id))
      throw errors.notFound(`User ${params.id} not found`);
    return services.subscriptions.changeByAdmin(params.id, body.planId, principal?.id ?? '', services.billingAudit,
      body.reason);
  },
  'billing.adminGrantCredits': async ({ params, body, headers }, { services, principal }) => {
    const given = [body.amountCents, body.amountMicros].filter((v) => v !== undefined);
    if (given.length !== 1) {
      throw errors.validation([
        { field: 'body.amountCents', message: 'give exactly one of amountCents and amountMicros' },
      ]);
    }
    const amountMicros = body.amountMicros ?? body.amountCents! * MICROS_PER_CENT;
    if (!(await services.identityUsers.profiles([params.id])).has(params.id))
      throw errors.notFound(`User ${params.id} not found`);
    const actorId = principal?.id ?? null;
    const entry = await services.ledger.grant(params.id, amountMicros, {
      idempotencyKey: `admin:${header(headers['idempotency-key'])}`,
      kind: body.kind,
      reason: body.reason,
      actorId: actorId ?? undefined,
      audit: (em, e) =>
        services.billingAudit.record(em, {
          actorId,
          action: 'billing.credits.granted',
          targetUserId: params.id,
          details: { entryId: e.id, kind: e.kind, amountMicros: e.amountMicros, reason: body.reason },
        }),
    });
    return reply(201, transactionView(entry));
  },

  'billing.getBalance': async (_req, { services, principal }) => services.ledger.balance(userOf(principal)),
  'billing.listTransactions': async ({ query, paging }, { services, principal }) =>
    services.billingReads.transactions(userOf(principal), query, paging!),
  'billing.getTransaction': async ({ params }, { services, principal }) =>
    services.billingReads.transaction(userOf(principal), params.id),
  'billing.getUsage': async ({ query }, { services, principal }) =>
    services.billingReads.usage(userOf(principal), query),
});
