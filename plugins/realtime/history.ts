import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Clock } from '../../kernel/index.ts';
import type { RealtimeEvent } from './api.ts';
import type { RealtimeEventRow, RealtimeFloorRow } from './entities.ts';
import { cursorAt, cursorTime } from './cursor.ts';

export interface HistoryLimits {
  /** Per channel: at most this many events, this many bytes of data, none older than this. */
  maxEvents: number;
  maxBytes: number;
  maxAgeSeconds: number;
}

export const toEvent = (row: Pick<RealtimeEventRow, 'id' | 'channel' | 'type' | 'payload' | 'createdAt'>):
  RealtimeEvent => ({
  channel: row.channel, type: row.type, data: JSON.parse(row.payload), cursor: row.id,
  at: new Date(row.createdAt).toISOString(),
});

const REPLAY_PAGE = 500;

/** The durable, bounded history: reads for replay, and pruning by count, bytes and age. */
export class History {
  constructor(private readonly orm: MikroORM, private readonly clock: Clock, private readonly limits: HistoryLimits) {}

  /** Events of `channels` after `cursor`, oldest first, one page (the caller pages on). */
  async after(channels: string[], cursor: string, limit = REPLAY_PAGE): Promise<RealtimeEvent[]> {
    const rows = await this.orm.em.fork().find<RealtimeEventRow>(
      'RealtimeEvent', { channel: { $in: channels }, id: { $gt: cursor } }, { orderBy: { id: 'asc' }, limit },
    );
    return rows.map(toEvent);
  }

  /**
   * The channels for which `cursor` is older than what the history still holds: pruned by count or
   * bytes past it (its floor), or older than the age limit (rows that old may be gone).
   */
  async gaps(channels: string[], cursor: string): Promise<string[]> {
    if (cursor === '0') return [];
    if (cursorTime(cursor) < this.clock.now() - this.limits.maxAgeSeconds * 1000) return channels;
    const floors = await this.orm.em.fork().find<RealtimeFloorRow>(
      'RealtimeFloor', { channel: { $in: channels }, cursor: { $gte: cursor } }, { fields: ['channel'] as never[] },
    );
    return floors.map((f) => f.channel);
  }

  /** Keeps `channel` within its count and byte limits; records what was cut as the channel's floor. */
  async prune(channel: string): Promise<number> {
    const em = this.orm.em.fork();
    const { maxEvents, maxBytes } = this.limits;
    const rows = await em.find<RealtimeEventRow>(
      'RealtimeEvent', { channel },
      { fields: ['id', 'bytes'] as never[], orderBy: { id: 'desc' }, limit: maxEvents + 1 },
    );
    let total = 0;
    const cut = rows.findIndex((r, i) => i >= maxEvents || (total += r.bytes) > maxBytes);
    if (cut < 0) return 0;
    const floor = rows[cut].id;
    const deleted = await em.nativeDelete('RealtimeEvent', { channel, id: { $lte: floor } });
    await this.raiseFloor(em, channel, floor);
    return deleted;
  }

  /** Drops events past the age limit (every channel) and floors nobody can need any more. */
  async sweep(): Promise<number> {
    const em = this.orm.em.fork();
    const cutoff = this.clock.now() - this.limits.maxAgeSeconds * 1000;
    const deleted = await em.nativeDelete('RealtimeEvent', { id: { $lt: cursorAt(cutoff) } });
    await em.nativeDelete('RealtimeFloor', { updatedAt: { $lt: new Date(cutoff) } });
    return deleted;
  }

  private async raiseFloor(em: EntityManager, channel: string, cursor: string): Promise<void> {
    const updatedAt = this.clock.date();
    const raised = await em.nativeUpdate('RealtimeFloor', { channel, cursor: { $lt: cursor } }, { cursor, updatedAt });
    if (raised) return;
    if (await em.count('RealtimeFloor', { channel })) return; // already at or past it
    try {
      await em.insert('RealtimeFloor', { id: cursor, channel, cursor, updatedAt });
    } catch {
      // Another instance inserted it meanwhile: raise that one.
      await em.nativeUpdate('RealtimeFloor', { channel, cursor: { $lt: cursor } }, { cursor, updatedAt });
    }
  }
}
