import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { PaymentGateway } from '../../kernel/ports/payments.ts';
import type { StripePaymentsOptions } from './stripeClient.ts';

export type { StripePaymentsOptions };

export default defineAdapter<PaymentGateway, StripePaymentsOptions>({
  port: 'payments',
  name: 'stripe',
  description:
    'Stripe through the official SDK: Checkout Sessions for credit purchases, Stripe Billing (Checkout in ' +
    'subscription mode) for plans, Stripe-Signature checked on webhooks. HTTP goes through the egress port.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['secretKey', 'webhookSecret'],
    properties: {
      secretKey: { type: 'string', pattern: '^(sk|rk)_', writeOnly: true, description: 'sk_live_… / sk_test_…' },
      webhookSecret: { type: 'string', pattern: '^whsec_', writeOnly: true },
      currency: { type: 'string', pattern: '^[a-z]{3}$', default: 'usd' },
      productName: { type: 'string', minLength: 1, default: 'Credits', description: 'Line item of a purchase.' },
      prices: {
        type: 'object',
        additionalProperties: { type: 'string', pattern: '^price_' },
        default: {},
        description: 'Stripe recurring price id per plan id, e.g. { pro: price_123 }.',
      },
      toleranceSeconds: { type: 'integer', minimum: 1, default: 300, description: 'Oldest accepted signature.' },
      maxNetworkRetries: { type: 'integer', minimum: 0, maximum: 5, default: 2 },
      apiHost: { type: 'string', minLength: 1, default: 'api.stripe.com', description: 'For stripe-mock.' },
    },
  },
  // The SDK loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./stripeClient.ts')).createStripeGateway(options, ctx),
});
