import { records, type SubscriberDefinition } from '../../kernel/index.ts';
import { NoteActivity, type NoteView } from './entities.ts';

/**
 * Records each notes.note.created event once. Delivery is at least once; `idempotent: true`
 * makes the kernel skip an event this group has already handled (its receipt is stored in
 * the same flush as the row), so `deliveries` is always 1. `concurrency: 8`: up to 8 events (of different
 * notes: an event is keyed by its note) are handled at once, so their rows share SQLite's commits; safe here
 * because no handler reads what another writes.
 */
export const activitySubscriber: SubscriberDefinition<NoteView> = {
  event: 'notes.note.created',
  name: 'activity',
  idempotent: true,
  concurrency: 8,
  handle: ({ id, data, occurredAt }, ctx) => records(ctx, NoteActivity).create({
    noteId: data.id, eventId: id, action: 'created', deliveries: 1, occurredAt: new Date(occurredAt),
  }),
};
