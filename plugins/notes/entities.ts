import { defineEntity } from '../../kernel/index.ts';

export interface NoteRow {
  id: string;
  /** The user who wrote it; every read and write is scoped to it. */
  ownerId: string;
  title: string;
  body: string;
  pinned: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface NoteActivityRow {
  id: string;
  noteId: string;
  eventId: string;
  action: string;
  deliveries: number;
  occurredAt: Date;
}

export const Note = defineEntity({
  name: 'Note',
  table: 'notes_notes',
  timestamps: true,
  properties: {
    ownerId: { type: 'string', length: 36, nullable: true },
    title: { type: 'string', length: 200 },
    body: { type: 'text' },
    pinned: { type: 'boolean' },
  },
  indexes: [{ properties: ['ownerId'] }],
});

/** Written by the activity subscriber: proves an event reached its consumer group, and how often. */
export const NoteActivity = defineEntity({
  name: 'NoteActivity',
  table: 'notes_activity',
  properties: {
    noteId: { type: 'string', length: 36 },
    eventId: { type: 'string', length: 36 },
    action: { type: 'string', length: 50 },
    deliveries: { type: 'integer' },
    occurredAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['eventId'], unique: true }, { properties: ['noteId'] }],
});
