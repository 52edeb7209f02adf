import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import type { Egress } from '../../kernel/ports/egress.ts';
import type {
  CancelResult, CheckoutRequest, CheckoutResult, PaymentEvent, PaymentGateway, SubscriptionRequest,
  SubscriptionResult, WebhookInput,
} from '../../kernel/ports/payments.ts';
import { AppError } from '../../kernel/errors.ts';
import { badPayload, badSignature, providerError, providerUnavailable, singleHeader } from './errors.ts';
import { isStripeEvent, readStripeEvent } from './stripeEvents.ts';

export interface StripePaymentsOptions {
  secretKey: string;
  webhookSecret: string;
  currency?: string;
  productName?: string;
  prices?: Record<string, string>;
  toleranceSeconds?: number;
  maxNetworkRetries?: number;
  apiHost?: string;
}

const PROVIDER = 'stripe';

/**
 * A `fetch` for the SDK's fetch client that sends through the egress port (SSRF guard, timeouts,
 * size cap, call metrics). Retries stay with the SDK, which re-sends with its idempotency key.
 */
export function egressFetch(egress: () => Egress): typeof fetch {
  return (async (url: string | URL, init: RequestInit = {}) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => { headers[name] = value; });
    const res = await egress().request({
      url: String(url), method: init.method ?? 'GET', headers, retries: 0,
      ...(typeof init.body === 'string' ? { body: init.body } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
    const out = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (name !== 'set-cookie') out.set(name, value);
    const empty = res.status === 204 || res.status === 304;
    return new Response(empty ? null : new Uint8Array(res.body), { status: res.status, headers: out });
  }) as typeof fetch;
}

/** Stripe keys are at most 255 characters; ours are scoped to the user and hashed to fit. */
function stripeKey(kind: string, userId: string, key: string): string {
  return `${kind}_${createHash('sha256').update(`${userId}\n${key}`).digest('hex')}`;
}

function mapError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const type = (err as { type?: string } | null)?.type;
  switch (type) {
    case 'StripeConnectionError':
    case 'StripeAPIError':
      return providerUnavailable(PROVIDER, 5, err);
    case 'StripeRateLimitError':
      return providerUnavailable(PROVIDER, 2, err);
    case 'StripeIdempotencyError':
      return new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request', {
        details: { header: 'Idempotency-Key' }, cause: err,
      });
    case 'StripeInvalidRequestError':
    case 'StripeAuthenticationError':
    case 'StripePermissionError':
    case 'StripeCardError':
      // Stripe's message (which may name our configuration) goes to the log through `cause`, not to the client.
      return providerError(PROVIDER, `${type.replace(/^Stripe/, '')} (${code(err) ?? 'no code'})`, err);
    default:
      return err;
  }
}

function code(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

async function call<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw mapError(err);
  }
}

export function createStripeGateway(
  options: StripePaymentsOptions, ctx: AdapterContext,
): PaymentGateway & AdapterLifecycle {
  if (!ctx.port) throw new Error('adapters.payments.stripe needs the egress port (AdapterContext.port)');
  const resolvePort = ctx.port.bind(ctx);
  const egress = () => resolvePort<Egress>('egress');
  const currency = options.currency ?? 'usd';
  const prices = options.prices ?? {};
  const planOf = new Map(Object.entries(prices).map(([plan, price]) => [price, plan]));
  const tolerance = options.toleranceSeconds ?? 300;
  const stripe = new Stripe(options.secretKey, {
    httpClient: Stripe.createFetchHttpClient(egressFetch(egress)),
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    // The kernel's `adapters.payments.timeoutMs` bounds each call, the SDK's retries included.
    timeout: 30_000,
    host: options.apiHost ?? 'api.stripe.com',
    telemetry: false,
    appInfo: { name: ctx.serviceName },
  });

  return {
    provider: PROVIDER,

    createCheckout: (r: CheckoutRequest): Promise<CheckoutResult> => call(async () => {
      const metadata = { userId: r.userId, reference: r.reference };
      const session = await stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [{
          quantity: 1,
          price_data: {
            currency: r.currency ?? currency, unit_amount: r.amountCents,
            product_data: { name: r.description ?? options.productName ?? 'Credits' },
          },
        }],
        client_reference_id: r.userId,
        metadata,
        payment_intent_data: { metadata },
        success_url: r.successUrl,
        cancel_url: r.cancelUrl,
      }, { idempotencyKey: stripeKey('checkout', r.userId, r.idempotencyKey) });
      if (!session.url) throw providerError(PROVIDER, `checkout session ${session.id} has no url`);
      return {
        status: 'pending', checkoutUrl: session.url, externalId: session.id,
        amountCents: session.amount_total ?? r.amountCents, currency: session.currency ?? r.currency ?? currency,
        expiresAt: session.expires_at ? new Date(session.expires_at * 1000).toISOString() : null,
      };
    }),

    createSubscription: (r: SubscriptionRequest): Promise<SubscriptionResult> => call(async () => {
      const price = prices[r.planId];
      if (!price) {
        throw new AppError(400, 'PLAN_NOT_PURCHASABLE', `Plan ${r.planId} has no Stripe price configured`, {
          details: { planId: r.planId },
        });
      }
      const metadata = { userId: r.userId, planId: r.planId };
      const session = await stripe.checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ price, quantity: 1 }],
        client_reference_id: r.userId,
        metadata,
        subscription_data: { metadata },
        success_url: r.successUrl,
        cancel_url: r.cancelUrl,
      }, { idempotencyKey: stripeKey('subscribe', r.userId, r.idempotencyKey) });
      if (!session.url) throw providerError(PROVIDER, `checkout session ${session.id} has no url`);
      return { status: 'pending', checkoutUrl: session.url, externalId: session.id, planId: r.planId };
    }),

    cancelSubscription: (externalId: string, o: { immediately?: boolean } = {}): Promise<CancelResult> =>
      call(async () => {
        if (o.immediately) {
          const sub = await stripe.subscriptions.cancel(externalId);
          const ended = sub.ended_at ?? sub.canceled_at;
          return { externalId, status: 'cancelled', endsAt: ended ? new Date(ended * 1000).toISOString() : null };
        }
        const sub = await stripe.subscriptions.update(externalId, { cancel_at_period_end: true });
        const end = sub.cancel_at ?? sub.items?.data[0]?.current_period_end;
        return { externalId, status: 'cancel_at_period_end', endsAt: end ? new Date(end * 1000).toISOString() : null };
      }),

    resumeSubscription: (externalId: string): Promise<void> => call(async () => {
      await stripe.subscriptions.update(externalId, { cancel_at_period_end: false });
    }),

    async parseWebhook(input: WebhookInput): Promise<PaymentEvent> {
      const header = singleHeader(input.headers, 'stripe-signature');
      if (!header) throw badSignature('no Stripe-Signature header');
      let event: unknown;
      try {
        event = stripe.webhooks.constructEvent(
          input.rawBody, header, options.webhookSecret, tolerance, undefined, ctx.clock.now(),
        );
      } catch (err) {
        if ((err as { type?: string }).type === 'StripeSignatureVerificationError') {
          throw badSignature((err as Error).message.split('\n')[0]);
        }
        throw badPayload('not JSON');
      }
      if (!isStripeEvent(event)) throw badPayload('not a Stripe event');
      return readStripeEvent(event, (price) => planOf.get(price) ?? null);
    },
  };
}
