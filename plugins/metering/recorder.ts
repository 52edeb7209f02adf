import type { EntityManager } from '@mikro-orm/core';
import type { Clock, IdGenerator } from '../../kernel/index.ts';
import type { Metering, UsageEvent } from './api.ts';
import type { UsageRow } from './entities.ts';
import { dayOf } from './time.ts';
import type { UsageTotals } from './totals.ts';

/**
 * `metering.record`: stages one usage row in the caller's EntityManager, so it commits (or
 * rolls back) with the caller's own change, e.g. the ledger capture it accounts for.
 */
export class UsageRecorder implements Metering {
  constructor(private readonly clock: Clock, private readonly totals: UsageTotals,
    private readonly ids?: IdGenerator) {}

  record(em: EntityManager, e: UsageEvent): void {
    assertEvent(e);
    const atMs = (e.occurredAt ?? this.clock.date()).getTime();
    const tokens = e.tokensIn + e.tokensOut;
    const row = em.create<UsageRow>('MeteringUsage', {
      userId: e.userId, kind: e.kind, subject: e.subject, tokensIn: e.tokensIn, tokensOut: e.tokensOut, tokens,
      costMicros: e.costMicros, reference: e.reference ?? null, status: e.status ?? 'ok', atMs, day: dayOf(atMs),
    } as UsageRow);
    em.persist(row);
    // Counted before the commit: a rolled-back call over-counts this instance's limit view until the cache refreshes.
    this.totals.added(e.userId, atMs, tokens, e.costMicros);
  }

  /**
   * `metering.insert`: writes the row now, with one plain INSERT on `em`'s connection and in its open transaction
   * (e.g. inside the ledger's capture, so the charge and its usage row commit or roll back together). No ORM
   * unit of work: on the gateway's hot path a flush costs several times the statement.
   */
  async insert(em: Pick<EntityManager, 'getConnection' | 'getTransactionContext'>, e: UsageEvent): Promise<void> {
    assertEvent(e);
    const atMs = (e.occurredAt ?? this.clock.date()).getTime();
    const tokens = e.tokensIn + e.tokensOut;
    const id = this.ids ? this.ids.next() : crypto.randomUUID();
    await em.getConnection().execute(INSERT, [id, e.userId, e.kind, e.subject, e.tokensIn, e.tokensOut, tokens,
      e.costMicros, e.reference ?? null, e.status ?? 'ok', atMs, dayOf(atMs)], 'run', em.getTransactionContext());
    this.totals.added(e.userId, atMs, tokens, e.costMicros);
  }
}

const INSERT = `insert into metering_usage (id, user_id, kind, subject, tokens_in, tokens_out, tokens, cost_micros,
  reference, status, at_ms, day) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** A malformed event is a caller's bug: refused loudly, before anything is staged. */
function assertEvent(e: UsageEvent): void {
  const count = (name: string, v: unknown) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      throw new TypeError(`metering.record: ${name} must be a non-negative safe integer`);
    }
  };
  if (typeof e.userId !== 'string' || !e.userId || e.userId.length > 36) {
    throw new TypeError('metering.record: userId is required (at most 36 characters)');
  }
  if (typeof e.subject !== 'string' || !e.subject || e.subject.length > 200) {
    throw new TypeError('metering.record: subject is required (at most 200 characters)');
  }
  if (typeof e.kind !== 'string' || !e.kind || e.kind.length > 50) {
    throw new TypeError('metering.record: kind is required (at most 50 characters)');
  }
  count('tokensIn', e.tokensIn);
  count('tokensOut', e.tokensOut);
  count('costMicros', e.costMicros);
  if (e.reference !== undefined && e.reference.length > 200) {
    throw new TypeError('metering.record: reference is at most 200 characters');
  }
  if (e.occurredAt !== undefined && Number.isNaN(e.occurredAt.getTime())) {
    throw new TypeError('metering.record: occurredAt is not a valid date');
  }
}
