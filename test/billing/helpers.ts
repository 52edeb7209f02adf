import type { TestKit } from '../kit/index.ts';
import type { LedgerService } from '../../plugins/billing/ledger.ts';
import type { SubscriptionService } from '../../plugins/billing/subscriptions.ts';

export const CENT = 1_000_000;

/** Billing's exported services of a running test kernel (as a plugin requiring billing would get them). */
export function billingOf(k: TestKit): { ledger: LedgerService; subscriptions: SubscriptionService } {
  const cradle = k.kernel.runtimes.get('billing')!.container.cradle as unknown as {
    ledger: LedgerService; subscriptions: SubscriptionService;
  };
  return { ledger: cradle.ledger, subscriptions: cradle.subscriptions };
}

/** A fresh access token for an existing user (after the test clock moved past the old one's life). */
export async function signInAgain(k: TestKit, email: string): Promise<Record<string, string>> {
  const { PASSWORD } = await import('../identity/helpers.ts');
  const res = await k.post(`${k.basePath}/auth/login`, { email, password: PASSWORD });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.text}`);
  return { authorization: `Bearer ${res.body.accessToken}` };
}
