import { definePlugin, defineHandlers, defineServices, errors } from '../../kernel/index.ts';
import type { BillingExports } from '../billing/api.ts';
import type { PaymentsConfig } from './api.ts';
import type { Operations } from './contract.gen.ts';
import { PaymentEventReceipt, PaymentPurchase, PaymentSubscription } from './entities.ts';
import { migrations } from './migrations.ts';
import { Purchases } from './purchases.ts';
import { Webhooks } from './webhooks.ts';

const services = defineServices<{ config: PaymentsConfig; requires: BillingExports }>()
  .scoped('purchases', ({ em, payments, ledger, config, publish }) =>
    new Purchases({ em, payments, ledger, config, publish }))
  .scoped('webhooks', ({ em, payments, subscriptions, purchases, publish, log, clock }) =>
    new Webhooks({ em, payments, subscriptions, purchases, publish, log, now: () => clock.date() }));

/**
 * Payments: credit purchases through the deployment's PaymentGateway (adapters.payments), and the
 * provider's webhooks. Money moves only through billing's exported ledger and subscriptions.
 */
export default definePlugin({
  name: 'payments',
  version: '1.0.0',
  description: 'Credit purchases (Checkout) and payment webhooks, through the PaymentGateway port.',
  requires: ['billing'],
  config: {
    type: 'object',
    additionalProperties: false,
    properties: {
      successUrl: {
        type: 'string', format: 'uri', default: 'http://localhost:3000/billing/purchase/success',
        description: 'Where the provider sends the user after paying.',
      },
      cancelUrl: {
        type: 'string', format: 'uri', default: 'http://localhost:3000/billing/purchase/cancelled',
        description: 'Where the provider sends the user who gives up.',
      },
      minPurchaseCents: { type: 'integer', minimum: 1, default: 100 },
      maxPurchaseCents: { type: 'integer', minimum: 1, default: 100_000 },
    },
  },
  entities: [PaymentPurchase, PaymentEventReceipt, PaymentSubscription],
  migrations,
  services,
  permissions: [{ name: 'payments:purchase', description: 'Buy credits', roles: ['user'] }],
  events: [
    {
      name: 'payments.purchase.completed',
      description: 'Credits were granted for a purchase.',
      schema: {
        type: 'object', required: ['purchaseId', 'userId', 'amountCents', 'ledgerEntryId', 'provider'],
        properties: {
          purchaseId: { type: 'string' }, userId: { type: 'string' }, amountCents: { type: 'integer' },
          ledgerEntryId: { type: 'string' }, provider: { type: 'string' },
        },
      },
    },
    {
      name: 'payments.subscription.changed',
      description: 'The provider\'s latest state of a plan subscription (active, past_due, cancelled).',
      schema: {
        type: 'object', required: ['userId', 'externalId', 'provider', 'status', 'eventType'],
        properties: {
          userId: { type: 'string' }, planId: { type: ['string', 'null'] }, externalId: { type: 'string' },
          provider: { type: 'string' }, status: { enum: ['active', 'past_due', 'cancelled'] },
          currentPeriodEnd: { type: ['string', 'null'] }, cancelAtPeriodEnd: { type: 'boolean' },
          eventType: { type: 'string' },
        },
      },
    },
  ],
  handlers: defineHandlers<Operations, typeof services>({
    'payments.purchase': async ({ body, headers }, { principal, services }) => {
      if (!principal) throw errors.unauthorized();
      const key = String(headers['idempotency-key']);
      return services.purchases.purchase(principal.id, body.amountCents, key);
    },
    'payments.stripeWebhook': async ({ rawBody, headers }, { services }) => {
      if (rawBody === undefined) throw errors.badRequest('The webhook body is missing');
      return services.webhooks.receive({ rawBody, headers });
    },
  }),
});
