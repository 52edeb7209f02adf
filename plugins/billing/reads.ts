import type { EntityManager } from '@mikro-orm/core';
import { errors, paginate, type Page, type PageRequest } from '../../kernel/index.ts';
import type { LedgerEntryDetail } from './api.ts';
import type { EntryRow, SubscriptionRow } from './entities.ts';
import { balanceCents, costCents, entryView } from './ledgerViews.ts';
import type { SubscriptionService } from './subscriptions.ts';
import type { IdentityUsers } from '../identity/api.ts';

export type TransactionView = LedgerEntryDetail & { amountCents: number; balanceAfterCents: number };

export function transactionView(e: LedgerEntryDetail): TransactionView {
  return { ...e, amountCents: costCents(e.amountMicros), balanceAfterCents: balanceCents(e.balanceAfterMicros) };
}

const DAY = 86_400_000;

/** The start (UTC) of the day, ISO week (Monday) or month holding `ms`. */
function bucketStart(ms: number, period: 'day' | 'week' | 'month'): number {
  const d = new Date(ms);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (period === 'day') return day;
  if (period === 'week') return day - ((d.getUTCDay() + 6) % 7) * DAY;
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

const DEFAULT_SPAN = { day: 30 * DAY, week: 12 * 7 * DAY, month: 365 * DAY };
/** Reads at most this many entries per usage answer; wider windows are refused (400), not truncated. */
const MAX_USAGE_ROWS = 50_000;

/** The request's reads: a user's entries and usage, the admin's subscription list. */
export class BillingReads {
  constructor(private em: EntityManager, private now: () => number) {}

  async transactions(userId: string, q: { kind?: string; from?: string; to?: string; reference?: string },
    paging: PageRequest): Promise<Page<TransactionView>> {
    const where: Record<string, unknown> = { userId };
    if (q.kind) where.kind = q.kind;
    if (q.reference) where.reference = q.reference;
    const createdAt: Record<string, Date> = {};
    if (q.from) createdAt.$gte = new Date(q.from);
    if (q.to) createdAt.$lt = new Date(q.to);
    if (Object.keys(createdAt).length) where.createdAt = createdAt;
    return paginate<EntryRow, TransactionView>(this.em, 'BillingEntry', {
      request: paging, where, map: (r) => transactionView(entryView(r)),
    });
  }

  async transaction(userId: string, id: string): Promise<TransactionView> {
    const row = await this.em.findOne<EntryRow>('BillingEntry', { id, userId });
    if (!row) throw errors.notFound(`Transaction ${id} not found`);
    return transactionView(entryView(row));
  }

  /** Charges less refunds per bucket; the exact micros summed, cents rounded once per bucket. */
  async usage(userId: string, q: { period: 'day' | 'week' | 'month'; from?: string; to?: string }) {
    const to = q.to ? Date.parse(q.to) : this.now();
    const from = q.from ? Date.parse(q.from) : bucketStart(to - DEFAULT_SPAN[q.period], q.period);
    if (from >= to) throw errors.validation([{ field: 'query.from', message: 'must be before to', code: 'range' }]);
    const where = {
      userId,
      kind: { $in: ['charge', 'refund'] },
      createdAt: { $gte: new Date(from), $lt: new Date(to) },
    };
    const rows = await this.em.find<EntryRow>('BillingEntry', where, {
      fields: ['amountMicros', 'kind', 'createdAt'] as never, limit: MAX_USAGE_ROWS + 1, orderBy: { createdAt: 'asc' },
    });
    if (rows.length > MAX_USAGE_ROWS) {
      throw errors.validation([{ field: 'query.from', message: 'the window holds too many entries; narrow it' }]);
    }
    const buckets = new Map<number, { costMicros: number; charges: number }>();
    let total = 0;
    let charges = 0;
    for (const r of rows) {
      const start = bucketStart(new Date(r.createdAt).getTime(), q.period);
      const b = buckets.get(start) ?? { costMicros: 0, charges: 0 };
      b.costMicros -= r.amountMicros;
      total -= r.amountMicros;
      if (r.kind === 'charge') {
        b.charges++;
        charges++;
      }
      buckets.set(start, b);
    }
    return {
      period: q.period, from: new Date(from).toISOString(), to: new Date(to).toISOString(),
      totalCostMicros: total, totalCostCents: costCents(total), charges,
      buckets: [...buckets].map(([start, b]) => ({
        start: new Date(start).toISOString(), costMicros: b.costMicros, costCents: costCents(b.costMicros),
        charges: b.charges,
      })),
    };
  }

  async subscriptions(q: { planId?: string; status?: string }, paging: PageRequest, subs: SubscriptionService,
    users: IdentityUsers) {
    const where: Record<string, unknown> = {};
    if (q.planId) where.planId = q.planId;
    if (q.status) where.status = q.status;
    const page = await paginate<SubscriptionRow, SubscriptionRow>(this.em, 'BillingSubscription', {
      request: paging, where, map: (r) => r,
    });
    const profiles = await users.profiles(page.data.map((r) => r.userId));
    const data = await Promise.all(page.data.map(async (row) => ({
      subscription: (await subs.resolve(row)).subscription!,
      user: profiles.get(row.userId) ?? null,
    })));
    return { data, pagination: page.pagination };
  }
}
