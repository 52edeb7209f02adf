/** The payments webhook under real concurrency on PostgreSQL: one grant, one receipt, one event per payment. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Egress } from '../../kernel/ports/egress.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import payments from '../../plugins/payments/index.ts';
import { guarded } from '../helpers/guarded.ts';
import { serviceUrl } from '../helpers/services.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { startNock, type NockSession } from '../helpers/nockSession.ts';
import {
  STRIPE_KEY, STRIPE_PRICES, STRIPE_WEBHOOK_SECRET, checkoutSession, signedStripeDelivery, stripeEvent,
} from '../helpers/stripeFixtures.ts';
import { billingStub, type BillingStub } from './billingStub.ts';

const pgUrl = serviceUrl('DATABASE_URL', 'payments webhooks racing on postgresql');
if (pgUrl) {
  const test = guarded(suite('payments plugin on PostgreSQL: concurrent deliveries of one payment'));
  let session: NockSession | undefined;
  let db: TestDatabase | undefined;
  let kit: TestKit;
  let billing: BillingStub;
  const now = () => Math.floor(Date.now() / 1000);
  const nockedEgress = defineAdapter<Egress>({
    port: 'egress', name: 'nocked', optionsSchema: { type: 'object' },
    create: (_o, ctx) => createUndiciEgress({}, ctx, { dispatcher: session!.dispatcher }),
  });

  test.before(async () => {
    session = await startNock();
    db = await freshPostgres(pgUrl);
    const stub = billingStub();
    billing = stub.state;
    kit = await startTestKernel({
      plugins: [stub.plugin, payments],
      adapters: { egress: { nocked: nockedEgress } },
      config: {
        database: { driver: 'postgresql', url: db.url },
        adapters: {
          egress: { use: 'nocked' },
          payments: { use: 'stripe', secretKey: STRIPE_KEY, webhookSecret: STRIPE_WEBHOOK_SECRET,
            prices: STRIPE_PRICES, maxNetworkRetries: 0 },
        },
      },
    });
  });
  test.after(async () => {
    await kit?.stop();
    session?.stop();
    await db?.drop();
  });

  test('ten deliveries at once of each of three payments: each granted once, one receipt and one event each',
    async () => {
      const buyer = await kit.asUser('pg-buyer');
      const purchases = [];
      for (const amountCents of [400, 500, 600]) {
        session!.nock('https://api.stripe.com').post('/v1/checkout/sessions').reply((req) => [200, checkoutSession({
          seed: String(req.headers.get('idempotency-key')), mode: 'payment', createdSeconds: now(), amountCents,
          userId: buyer.id, metadata: {}, successUrl: 'https://a/ok', cancelUrl: 'https://a/no',
        })]);
        const headers = { 'idempotency-key': `pg-${amountCents}` };
        const res = await buyer.post('/v1/billing/purchase', { amountCents }, headers);
        assert.is(res.status, 201, res.text);
        const [row] = await kit.kernel.orm!.em.fork().find<Record<string, unknown>>('PaymentPurchase',
          { id: res.body.id });
        purchases.push({ id: res.body.id as string, amountCents, externalId: String(row.externalId) });
      }
      const deliveries = purchases.flatMap((p, i) => {
        const paid = checkoutSession({
          seed: p.externalId, mode: 'payment', createdSeconds: now() - 5, amountCents: p.amountCents, userId: buyer.id,
          status: 'complete', paymentStatus: 'paid', metadata: { userId: buyer.id, reference: p.id },
          successUrl: 'https://a/ok', cancelUrl: 'https://a/no',
        });
        const event = stripeEvent(`evt_pg_race_${i}`, 'checkout.session.completed', now(),
          { ...paid, id: p.externalId });
        return Array.from({ length: 10 }, () => signedStripeDelivery(event, { timestampSeconds: now() }));
      });
      const answers = await Promise.all(deliveries.map((d) =>
        kit.request('POST', '/v1/billing/webhooks/stripe', { raw: d.rawBody, headers: d.headers })));
      assert.ok(answers.every((r) => r.status === 200), answers.filter((r) => r.status !== 200).map((r) => r.text)
        .join('\n'));
      assert.equal(answers.filter((r) => r.body.outcome === 'applied').length, 3, 'one applied delivery per event');
      assert.equal(kit.errors, [], 'no error logged (a lost race is a duplicate, not a 500)');
      assert.equal(billing.ledger.entries.map((e) => e.amountMicros).sort(), [400e6, 500e6, 600e6]);
      await kit.settle();
      const em = kit.kernel.orm!.em.fork();
      assert.is(await em.count('PaymentEventReceipt', {}), 3);
      assert.is(await em.count('PaymentPurchase', { status: 'completed' }), 3);
      assert.is(await em.count('KernelOutbox', { type: 'payments.purchase.completed' }), 3);
    });

  test.run();
}
