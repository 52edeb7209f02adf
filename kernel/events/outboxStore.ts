import type { MikroORM } from '@mikro-orm/core';
import type { FastReadPath } from '../storage/fastReads.ts';
import type { OutboxRow } from './outbox.ts';

/**
 * The relay's writes to the outbox table, each a compare-and-set on the claim so that two
 * relays never hold one row: a claim takes rows nobody holds (or whose lease ran out); every
 * later write is fenced by the lease it was claimed with.
 */
export interface OutboxStore {
  /** Claims the rows of `ids` that are unpublished and not held at `now`; returns the ids it got. */
  claim(ids: string[], now: Date, lease: Date): Promise<Set<string>>;
  /** Marks rows held with `lease` as published at `now`; returns the ids it marked. */
  markPublished(ids: string[], lease: Date, now: Date): Promise<Set<string>>;
  /** Lets go of rows held with `lease` that were not published. */
  release(ids: string[], lease: Date): Promise<void>;
  /** Records a failed publish of a row held with `lease`, held back until `retryAt`. */
  failed(id: string, lease: Date, attempts: number, error: string, retryAt: Date): Promise<void>;
}

const ids = (rows: Array<Record<string, unknown>>) => new Set(rows.map((r) => String(r.id)));
const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/**
 * SQL drivers: one prepared statement per batch for each of claim, mark and release (the
 * table and its columns are the ones of `outboxMigrations`). `returning` says which rows
 * each statement took.
 */
export class SqlOutboxStore implements OutboxStore {
  constructor(private path: FastReadPath) {}

  async claim(list: string[], now: Date, lease: Date) {
    if (!list.length) return new Set<string>();
    const sql = 'update kernel_outbox set claimed_until = ? where published_at is null and ' +
      `(claimed_until is null or claimed_until < ?) and id in (${marks(list.length)}) returning id`;
    return ids(await this.path.statement(sql, [lease, now, ...list]));
  }

  async markPublished(list: string[], lease: Date, now: Date) {
    if (!list.length) return new Set<string>();
    const sql = 'update kernel_outbox set published_at = ?, claimed_until = null where claimed_until = ? and ' +
      `id in (${marks(list.length)}) returning id`;
    return ids(await this.path.statement(sql, [now, lease, ...list]));
  }

  async release(list: string[], lease: Date) {
    if (!list.length) return;
    const sql = 'update kernel_outbox set claimed_until = null where claimed_until = ? and published_at is null and ' +
      `id in (${marks(list.length)}) returning id`;
    await this.path.statement(sql, [lease, ...list]);
  }

  async failed(id: string, lease: Date, attempts: number, error: string, retryAt: Date) {
    const sql = 'update kernel_outbox set attempts = ?, last_error = ?, claimed_until = ? ' +
      'where id = ? and claimed_until = ? returning id';
    await this.path.statement(sql, [attempts, error, retryAt, id, lease]);
  }
}

/** MongoDB: the same compare-and-sets, one row at a time through MikroORM. */
export class EmOutboxStore implements OutboxStore {
  constructor(private orm: MikroORM) {}

  async claim(list: string[], now: Date, lease: Date) {
    const em = this.orm.em.fork();
    const got = new Set<string>();
    for (const id of list) {
      const where = { id, publishedAt: null, $or: [{ claimedUntil: null }, { claimedUntil: { $lt: now } }] };
      if ((await em.nativeUpdate<OutboxRow>('KernelOutbox', where, { claimedUntil: lease })) === 1) got.add(id);
    }
    return got;
  }

  async markPublished(list: string[], lease: Date, now: Date) {
    const em = this.orm.em.fork();
    const got = new Set<string>();
    for (const id of list) {
      const changed = await em.nativeUpdate<OutboxRow>(
        'KernelOutbox',
        { id, claimedUntil: lease },
        { publishedAt: now, claimedUntil: null },
      );
      if (changed === 1) got.add(id);
    }
    return got;
  }

  async release(list: string[], lease: Date) {
    const em = this.orm.em.fork();
    for (const id of list) {
      await em.nativeUpdate<OutboxRow>('KernelOutbox', { id, claimedUntil: lease, publishedAt: null }, {
        claimedUntil: null,
      });
    }
  }

  async failed(id: string, lease: Date, attempts: number, error: string, retryAt: Date) {
    await this.orm.em.fork().nativeUpdate<OutboxRow>(
      'KernelOutbox',
      { id, claimedUntil: lease },
      { attempts, lastError: error, claimedUntil: retryAt },
    );
  }
}
