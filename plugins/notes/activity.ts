import type { SubscriberDefinition } from '../../kernel/index.ts';
import type { NoteActivityRow } from './entities.ts';

/**
 * Records each notes.note.created event once. Delivery is at least once; `idempotent: true`
 * makes the kernel skip an event this group has already handled (its receipt is stored in
 * the same flush as the row), so `deliveries` is always 1.
 */
export const activitySubscriber: SubscriberDefinition = {
  event: 'notes.note.created',
  name: 'activity',
  idempotent: true,
  async handle(event, { em }) {
    const data = event.data as { id: string };
    const row = {
      noteId: data.id,
      eventId: event.id,
      action: 'created',
      deliveries: 1,
      occurredAt: new Date(event.occurredAt),
    };
    em.create<NoteActivityRow>('NoteActivity', row as NoteActivityRow);
    await em.flush();
  },
};
