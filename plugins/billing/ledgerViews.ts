import type { Hold, LedgerEntryDetail } from './api.ts';
import { MICROS_PER_CENT } from './api.ts';
import type { EntryRow, HoldRow } from './entities.ts';

const iso = (d: Date | string) => new Date(d).toISOString();

export function holdView(h: HoldRow): Hold {
  return {
    id: h.id, userId: h.userId, amountMicros: h.amountMicros, status: h.status as Hold['status'],
    expiresAt: iso(h.expiresAt), reference: h.reference ?? null,
  };
}

export function entryView(e: EntryRow): LedgerEntryDetail {
  return {
    id: e.id, userId: e.userId, kind: e.kind as LedgerEntryDetail['kind'], amountMicros: e.amountMicros,
    balanceAfterMicros: e.balanceAfterMicros, reference: e.reference ?? null, createdAt: iso(e.createdAt),
    freeMicros: e.freeMicros, holdId: e.holdId ?? null, reason: e.reason ?? null, refundedMicros: e.refundedMicros,
    refundOf: e.refundOf ?? null, uncollectedMicros: e.uncollectedMicros,
  };
}

/**
 * Display rounding. A balance shows the whole cents it holds (rounded down: never a cent that cannot be
 * spent); a cost or a usage total shows the nearest cent. The micros behind both are kept exactly.
 */
export const balanceCents = (micros: number) => Math.floor(micros / MICROS_PER_CENT);
export const costCents = (micros: number) => Math.round(micros / MICROS_PER_CENT);
