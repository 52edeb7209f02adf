import type { SubscriberDefinition } from '../../kernel/index.ts';
import type { NoteActivityRow } from './entities.ts';

/**
 * Records each notes.note.created event once per event id. Delivery is at least once,
 * so a redelivered event bumps `deliveries` instead of adding a row.
 */
export const activitySubscriber: SubscriberDefinition = {
  event: 'notes.note.created',
  name: 'activity',
  async handle(event, { em }) {
    const data = event.data as { id: string };
    const seen = await em.findOne<NoteActivityRow>('NoteActivity', { eventId: event.id });
    if (seen) {
      seen.deliveries += 1;
    } else {
      em.create<NoteActivityRow>('NoteActivity', { noteId: data.id, eventId: event.id, action: 'created', deliveries: 1, occurredAt: new Date(event.occurredAt) } as NoteActivityRow);
    }
    await em.flush();
  },
};
