/**
 * A stand-in `billing` plugin for the payments tests: an in-memory ledger and subscriptions that
 * honour billing's api.ts (idempotency keys replay the first entry) and record every call.
 */
import { definePlugin, type PluginDefinition } from '../../kernel/index.ts';
import type {
  Balance, Hold, Ledger, LedgerEntry, Plan, SubscriptionView, Subscriptions,
} from '../../plugins/billing/api.ts';

export interface BillingStub {
  /** `beforeGrant` runs inside each grant call: a test's seam to act while a request is mid-way. */
  ledger: Ledger & { entries: LedgerEntry[]; grantCalls: number; beforeGrant?: () => Promise<void> };
  subscriptions: Subscriptions & { calls: Array<{ op: string; userId: string; planId?: string; externalId?: string;
    periodEnd?: string }> };
}

const FREE: Plan = {
  id: 'free', name: 'Free', description: 'Free', priceCents: 0, interval: 'month', features: [], limits: {},
  monthlyFreeCreditsCents: 100, gracePeriodHours: 0, visibility: 'public', status: 'active',
};

export function billingStub(): { plugin: PluginDefinition; state: BillingStub } {
  const entries: LedgerEntry[] = [];
  const byKey = new Map<string, LedgerEntry>();
  const subs = new Map<string, SubscriptionView>();
  let n = 0;
  const ledger: BillingStub['ledger'] = {
    entries,
    grantCalls: 0,
    async grant(userId, amountMicros, o) {
      ledger.grantCalls++;
      await ledger.beforeGrant?.();
      const first = byKey.get(o.idempotencyKey);
      if (first) return first;
      const balance = entries.filter((e) => e.userId === userId).reduce((s, e) => s + e.amountMicros, 0);
      const entry: LedgerEntry = {
        id: `entry-${++n}`, userId, kind: o.kind ?? 'grant', amountMicros, balanceAfterMicros: balance + amountMicros,
        reference: o.reference ?? null, createdAt: new Date().toISOString(),
      };
      entries.push(entry);
      byKey.set(o.idempotencyKey, entry);
      return entry;
    },
    async balance(userId): Promise<Balance> {
      const micros = entries.filter((e) => e.userId === userId).reduce((s, e) => s + e.amountMicros, 0);
      return { balanceCents: Math.floor(micros / 1_000_000), balanceMicros: micros, freeCreditsRemaining: 0,
        freeCreditsResetAt: null, lifetimeUsageCents: 0 };
    },
    hold: async (): Promise<Hold> => { throw new Error('not in this stub'); },
    capture: async (): Promise<LedgerEntry> => { throw new Error('not in this stub'); },
    release: async () => { throw new Error('not in this stub'); },
    refund: async (): Promise<LedgerEntry> => { throw new Error('not in this stub'); },
  };
  const subscriptions: BillingStub['subscriptions'] = {
    calls: [],
    async activate(userId, planId, o) {
      subscriptions.calls.push({ op: 'activate', userId, planId, externalId: o.externalId,
        periodEnd: o.periodEnd?.toISOString() });
      const view: SubscriptionView = {
        id: `sub-${userId}`, userId, planId, status: 'active', currentPeriodStart: new Date().toISOString(),
        currentPeriodEnd: (o.periodEnd ?? new Date()).toISOString(), cancelAtPeriodEnd: false, expiresAt: null,
      };
      subs.set(userId, view);
      return view;
    },
    async markPastDue(userId, externalId) {
      subscriptions.calls.push({ op: 'markPastDue', userId, externalId });
      const s = subs.get(userId);
      if (s) s.status = 'past_due';
    },
    current: async (userId) => ({ subscription: subs.get(userId) ?? null, plan: FREE }),
    plans: async () => [FREE],
    plan: async (id) => (id === 'free' ? FREE : null),
  };
  const plugin = definePlugin({
    name: 'billing',
    version: '0.0.0-test',
    contract: false,
    services: { ledger: () => ledger, subscriptions: () => subscriptions },
    exports: ['ledger', 'subscriptions'],
    // Metering (on in the default) listens to it.
    events: [{ name: 'billing.subscription.changed', schema: { type: 'object' } }],
  });
  return { plugin, state: { ledger, subscriptions } };
}
