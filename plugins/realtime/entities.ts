import { defineEntity, p, type RowOf } from '../../kernel/index.ts';

/**
 * One event of a channel's bounded history. `id` is the cursor (a UUIDv7 from the emitting
 * instance, monotonic there), so "after cursor X" is `id > X` on every driver.
 */
export const RealtimeEventRecord = defineEntity('RealtimeEvent', {
  table: 'realtime_events',
  properties: {
    id: p.id(),
    channel: p.string({ length: 200 }),
    type: p.string({ length: 50 }),
    /** The data as JSON text: stored and sent exactly as emitted. */
    payload: p.text(),
    bytes: p.integer(),
    createdAt: p.datetime(),
  },
  indexes: [{ properties: ['channel', 'id'] }, { properties: ['createdAt'] }],
});
export type RealtimeEventRow = RowOf<typeof RealtimeEventRecord>;

/** The newest cursor pruned from a channel by count or bytes: a resume from before it gets `reset`. */
export const RealtimeFloor = defineEntity('RealtimeFloor', {
  table: 'realtime_floors',
  properties: {
    id: p.id(),
    channel: p.string({ length: 200 }),
    cursor: p.string({ length: 36 }),
    updatedAt: p.datetime(),
  },
  indexes: [{ properties: ['channel'], unique: true }, { properties: ['updatedAt'] }],
});
export type RealtimeFloorRow = RowOf<typeof RealtimeFloor>;
