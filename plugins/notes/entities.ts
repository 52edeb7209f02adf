import { defineEntity, p, type RowOf, type ViewOf } from '../../kernel/index.ts';

/** A user's note: `ownedBy` scopes every read, update and delete to the caller and stamps the owner. */
export const Note = defineEntity('Note', {
  table: 'notes_notes',
  properties: {
    id: p.id(),
    /** Notes written before notes were owned keep a null owner: nobody sees them. */
    ownerId: p.string({ length: 36, nullable: true }),
    title: p.string({ length: 200 }),
    body: p.text(),
    pinned: p.boolean({ default: false }),
    /** `list(paging, { tags: 'x' })` finds the notes holding tag x, on every driver. */
    tags: p.array(p.string()),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['ownerId'] }],
  ownedBy: 'ownerId',
});
export type NoteRow = RowOf<typeof Note>;
/** What clients (and the `notes.note.created` event) see of a note: no owner, ISO dates. */
export type NoteView = ViewOf<typeof Note>;

/** Written by the activity subscriber: proves an event reached its consumer group, and how often. */
export const NoteActivity = defineEntity('NoteActivity', {
  table: 'notes_activity',
  properties: {
    id: p.id(),
    noteId: p.string({ length: 36 }),
    eventId: p.string({ length: 36 }),
    action: p.string({ length: 50 }),
    deliveries: p.integer(),
    occurredAt: p.datetime(),
  },
  indexes: [{ properties: ['eventId'], unique: true }, { properties: ['noteId'] }],
});
