import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { AuditRow } from './entities.ts';

/** Admin actions on billing, stored in the caller's transaction and logged (ids and amounts only). */
export class BillingAuditLog {
  constructor(private logger: Logger) {}

  async record(em: EntityManager, e: { actorId: string | null; action: string; targetUserId: string | null;
    details: Record<string, unknown> }): Promise<void> {
    em.create<AuditRow>('BillingAudit', { ...e, createdAt: new Date() } as AuditRow);
    this.logger.info({ audit: e.action, actorId: e.actorId, targetUserId: e.targetUserId, details: e.details },
      'billing admin action');
  }
}
