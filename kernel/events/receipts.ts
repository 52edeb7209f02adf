import type { EntityManager } from '@mikro-orm/core';
import { defineEntity } from '../storage/entity.ts';
import type { Migration } from '../storage/migrations.ts';
import type { DomainEvent } from '../ports/eventBus.ts';
import type { FastReads } from '../storage/fastReads.ts';
import { flushInserts, hasStagedRows, stageRow } from '../storage/insertFlush.ts';
import { nothingToFlush } from './unitOfWork.ts';

/**
 * Receipts of idempotent subscribers (`idempotent: true`): one row per (consumer group,
 * event id), written in the same flush as the handler's own changes. A redelivered event
 * finds its receipt and is skipped; two concurrent deliveries race on the unique index and
 * the loser's flush (receipt and changes together) is rolled back.
 */
export interface EventReceiptRow { id: string; consumerGroup: string; eventId: string; receivedAt: Date }

export const EventReceiptEntity = defineEntity({
  name: 'KernelEventReceipt',
  table: 'kernel_event_receipts',
  properties: {
    consumerGroup: { type: 'string', length: 200 },
    eventId: { type: 'string', length: 100 },
    receivedAt: { type: 'datetime' },
  },
  indexes: [
    { properties: ['consumerGroup', 'eventId'], unique: true, name: 'kernel_event_receipts_group_event_unique' },
  ],
});

export const receiptsMigration: Migration = {
  name: '0002_event_receipts',
  async up(knex) {
    await knex.schema.createTable('kernel_event_receipts', (t) => {
      t.string('id', 36).primary();
      t.string('consumer_group', 200).notNullable();
      t.string('event_id', 100).notNullable();
      t.datetime('received_at').notNullable();
      t.unique(['consumer_group', 'event_id'], { indexName: 'kernel_event_receipts_group_event_unique' });
    });
  },
  async down(knex) {
    await knex.schema.dropTable('kernel_event_receipts');
  },
};

function isUniqueViolation(err: unknown, depth = 0): boolean {
  const e = err as { name?: string; cause?: unknown } | undefined;
  if (!e || depth > 3) return false;
  return e.name === 'UniqueConstraintViolationException' || isUniqueViolation(e.cause, depth + 1);
}

/**
 * Runs `handle` at most once per (group, event id). The receipt is staged in `em` before the
 * handler runs, so the handler's own write (`em.flush()`, or the insert path) stores both; when
 * the handler does not write, it is stored here. A handler that throws leaves nothing behind (its `em` is dropped),
 * and the redelivery runs it again.
 */
export async function handleOnce(em: EntityManager, group: string, event: DomainEvent,
  handle: () => Promise<unknown>, now: () => Date, reads?: FastReads): Promise<'applied' | 'skipped'> {
  const where = { consumerGroup: group, eventId: event.id };
  // A prepared read when the kernel gives one: this runs once per delivered event.
  const seen = reads
    ? await reads.findOne<EventReceiptRow>('KernelEventReceipt', where, { fields: ['id'] })
    : await em.count<EventReceiptRow>('KernelEventReceipt', where);
  if (seen) return 'skipped';
  const receipt = { consumerGroup: group, eventId: event.id, receivedAt: now() };
  // As data when `em` takes staged rows (the kernel's subscriber runtime): the handler's insert path writes it
  // with its rows in one transaction; its em.flush() makes it an entity first, flushed with its changes.
  if (!stageRow(em, { entity: 'KernelEventReceipt', data: receipt })) {
    em.create<EventReceiptRow>('KernelEventReceipt', receipt as EventReceiptRow);
  }
  try {
    await handle();
    // Not stored yet (the handler wrote nothing): alone, or with what the handler left pending.
    if (hasStagedRows(em)) await flushInserts(em);
    // After the insert path wrote everything an empty flush would only diff the rows: skipped.
    else if (!nothingToFlush(em)) await em.flush();
  } catch (err) {
    // A concurrent delivery recorded it first, or the handler's own change hit a unique index
    // (then the event is not handled yet: rethrown, so it is delivered again).
    const recorded = () => em.fork().count('KernelEventReceipt', { consumerGroup: group, eventId: event.id });
    if (isUniqueViolation(err) && await recorded()) return 'skipped';
    throw err;
  }
  return 'applied';
}
