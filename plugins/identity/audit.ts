import type { EntityManager } from '@mikro-orm/core';
import type { Principal } from '../../kernel/index.ts';
import type { AuditRow } from './entities.ts';

export interface AuditEntry {
  actorId: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  ip?: string | null;
  userAgent?: string | null;
  oldValues?: Record<string, unknown>;
  newValues?: Record<string, unknown>;
  /** Set for entries made during impersonation; taken from the request's principal when not given. */
  impersonatorId?: string | null;
}

const SECRET = /(password|secret|token|hash|key)/i;

/** Secrets never reach the audit log: their values are replaced, their presence kept. */
export function mask(values: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!values) return null;
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, SECRET.test(k) ? '***' : v]));
}

/**
 * Appends to the audit log. Entries are persisted with the caller's next flush, or now with
 * `flush: true`. During impersonation every entry names both the subject (`actorId`, whose
 * account acted) and the admin behind it (`impersonatorId`).
 */
export class AuditLog {
  constructor(private em: EntityManager, private principal?: Principal) {}

  async record(entry: AuditEntry, options: { flush?: boolean } = {}): Promise<void> {
    this.em.create<AuditRow>('IdentityAudit', {
      actorId: entry.actorId,
      impersonatorId:
        entry.impersonatorId ??
        (typeof this.principal?.impersonatorId === 'string' ? this.principal.impersonatorId : null),
      action: entry.action,
      targetType: entry.targetType ?? null,
      targetId: entry.targetId ?? null,
      ip: entry.ip ?? null,
      userAgent: entry.userAgent?.slice(0, 500) ?? null,
      oldValues: mask(entry.oldValues),
      newValues: mask(entry.newValues),
      createdAt: new Date(),
    } as AuditRow);
    if (options.flush) await this.em.flush();
  }
}
