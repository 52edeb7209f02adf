/**
 * The moderation review queue (seed 003 FR-AI-014 "log flagged content for review"): flagged inputs and outputs,
 * newest first; a reviewer approves (the text was fine) or rejects (the flag was right), once. Seed 003's
 * moderation API will build on these rows.
 */
import type { EntityManager } from '@mikro-orm/core';
import { AppError, errors, paginate, type Clock, type PageRequest } from '../../kernel/index.ts';
import type { Schemas } from './contract.gen.ts';
import type { AiModerationItemRow } from './entities.ts';

export type ModerationItemView = Schemas['ModerationItem'];

export class ReviewQueue {
  constructor(private em: EntityManager, private clock: Clock) {}

  list(paging: PageRequest, status: 'pending' | 'approved' | 'rejected' | 'all') {
    const where = status === 'all' ? {} : { status };
    return paginate<AiModerationItemRow, ModerationItemView>(this.em, 'AiModerationItem', {
      request: paging, where, map: itemView });
  }

  /** Pending → approved or rejected, atomically: of two reviewers deciding at once, the second gets 409. */
  async decide(id: string, status: 'approved' | 'rejected', by: string, note?: string): Promise<ModerationItemView> {
    const changed = await this.em.nativeUpdate<AiModerationItemRow>('AiModerationItem', { id, status: 'pending' },
      { status, reviewedBy: by, reviewedAt: this.clock.date(), note: note ?? null });
    const row = await this.em.fork().findOne<AiModerationItemRow>('AiModerationItem', { id });
    if (!row) throw errors.notFound('No such item');
    if (!changed) {
      throw new AppError(409, 'ALREADY_REVIEWED', `This item was already ${row.status}`, {
        details: { status: row.status } });
    }
    return itemView(row);
  }
}

const iso = (d: Date | string) => new Date(d).toISOString();

export function itemView(r: AiModerationItemRow): ModerationItemView {
  return {
    id: r.id, userId: r.userId, direction: r.direction as ModerationItemView['direction'],
    action: r.action as ModerationItemView['action'], severity: r.severity as ModerationItemView['severity'],
    categories: r.categories, rules: r.rules, excerpt: r.excerpt,
    reference: { kind: r.referenceKind, id: r.referenceId }, status: r.status as ModerationItemView['status'],
    reviewedBy: r.reviewedBy ?? null, reviewedAt: r.reviewedAt ? iso(r.reviewedAt) : null, note: r.note ?? null,
    createdAt: iso(r.createdAt),
  };
}
