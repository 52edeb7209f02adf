import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { defineAdapter, type AdapterContext, type AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type {
  CancelResult, CheckoutRequest, CheckoutResult, PaymentEvent, PaymentGateway, SubscriptionRequest,
  SubscriptionResult, WebhookInput,
} from '../../kernel/ports/payments.ts';
import { badPayload, badSignature, singleHeader } from './errors.ts';

export interface FakePaymentsOptions {
  /** Signs and checks `Fake-Signature` on webhooks. */
  webhookSecret?: string;
  currency?: string;
  /** Length of a subscription period. */
  periodDays?: number;
  /** Oldest accepted webhook timestamp, in seconds. */
  toleranceSeconds?: number;
}

export const FAKE_SIGNATURE_HEADER = 'fake-signature';
const DEFAULT_SECRET = 'fake_whsec_default';
const DAY_MS = 86_400_000;
const MODELLED = new Set<string>([
  'payment.succeeded', 'subscription.activated', 'subscription.renewed', 'subscription.past_due',
  'subscription.cancelled',
]);

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the shape Stripe uses. */
export function signFakeWebhook(body: string, secret: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${hmac(secret, `${timestampSeconds}.${body}`)}`;
}

function hmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** The same key always names the same payment: purchases are deterministic. */
function idFor(prefix: string, key: string): string {
  return `${prefix}_${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

function createFakeGateway(options: FakePaymentsOptions, ctx: AdapterContext): PaymentGateway & AdapterLifecycle {
  const secret = options.webhookSecret ?? DEFAULT_SECRET;
  const currency = options.currency ?? 'usd';
  const periodMs = (options.periodDays ?? 30) * DAY_MS;
  const tolerance = options.toleranceSeconds ?? 300;
  const periodEnds = new Map<string, string>();

  function verify(input: WebhookInput): string {
    const header = singleHeader(input.headers, FAKE_SIGNATURE_HEADER);
    if (!header) throw badSignature(`no ${FAKE_SIGNATURE_HEADER} header`);
    const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
    const t = Number(parts.t);
    if (!Number.isSafeInteger(t) || typeof parts.v1 !== 'string') throw badSignature('malformed header');
    if (Math.floor(ctx.clock.now() / 1000) - t > tolerance) throw badSignature('timestamp outside the tolerance');
    const body = typeof input.rawBody === 'string' ? input.rawBody : input.rawBody.toString('utf8');
    const expected = Buffer.from(hmac(secret, `${t}.${body}`), 'hex');
    const given = Buffer.from(parts.v1, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw badSignature('no match');
    return body;
  }

  return {
    provider: 'fake',

    async createCheckout(request: CheckoutRequest): Promise<CheckoutResult> {
      return {
        status: 'completed',
        externalId: idFor('fake_pay', `${request.userId}\n${request.idempotencyKey}`),
        amountCents: request.amountCents,
        currency: request.currency ?? currency,
      };
    },

    async createSubscription(request: SubscriptionRequest): Promise<SubscriptionResult> {
      const externalId = idFor('fake_sub', `${request.userId}\n${request.idempotencyKey}`);
      const currentPeriodEnd = periodEnds.get(externalId) ?? new Date(ctx.clock.now() + periodMs).toISOString();
      periodEnds.set(externalId, currentPeriodEnd);
      return { status: 'active', externalId, planId: request.planId, currentPeriodEnd };
    },

    async cancelSubscription(externalId: string, o: { immediately?: boolean } = {}): Promise<CancelResult> {
      if (o.immediately) return { externalId, status: 'cancelled', endsAt: ctx.clock.date().toISOString() };
      return { externalId, status: 'cancel_at_period_end', endsAt: periodEnds.get(externalId) ?? null };
    },

    async resumeSubscription(): Promise<void> {},

    async parseWebhook(input: WebhookInput): Promise<PaymentEvent> {
      const body = verify(input);
      let event: PaymentEvent;
      try {
        event = JSON.parse(body) as PaymentEvent;
      } catch {
        throw badPayload('not JSON');
      }
      if (typeof event?.id !== 'string' || typeof event.type !== 'string' || typeof event.createdAt !== 'string') {
        throw badPayload('an event needs id, type and createdAt');
      }
      if (!MODELLED.has(event.type)) {
        return { id: event.id, createdAt: event.createdAt, type: 'other', providerType: event.type };
      }
      return event;
    },
  };
}

export default defineAdapter<PaymentGateway, FakePaymentsOptions>({
  port: 'payments',
  name: 'fake',
  local: true,
  description:
    'Embedded payments: purchases and subscriptions complete at once with ids derived from the idempotency key; ' +
    'webhooks are the port\'s own events signed with HMAC-SHA256 in `Fake-Signature`.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      webhookSecret: { type: 'string', minLength: 8, default: DEFAULT_SECRET, writeOnly: true },
      currency: { type: 'string', pattern: '^[a-z]{3}$', default: 'usd' },
      periodDays: { type: 'integer', minimum: 1, default: 30 },
      toleranceSeconds: { type: 'integer', minimum: 1, default: 300 },
    },
  },
  create: (options, ctx) => createFakeGateway(options ?? {}, ctx),
});
