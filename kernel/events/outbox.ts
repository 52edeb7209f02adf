import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { defineEntity } from '../storage/entity.ts';
import type { Migration } from '../storage/migrations.ts';
import type { DomainEvent, EventBus } from '../ports/eventBus.ts';
import type { Clock } from '../ports/clock.ts';
import { FastReadPath, type FastReads } from '../storage/fastReads.ts';
import { stageRow } from '../storage/insertFlush.ts';
import { receiptsMigration } from './receipts.ts';
import { EmOutboxStore, SqlOutboxStore, type OutboxStore } from './outboxStore.ts';

/**
 * The transactional outbox: a domain event is written as a row in the same unit of work as
 * the change that caused it, and a relay publishes pending rows to the EventBus. An event
 * whose request was acknowledged survives a bus outage or a crash; delivery is at least once.
 */
export interface OutboxRow {
  id: string; type: string; eventKey: string | null; data: unknown; occurredAt: Date;
  publishedAt: Date | null; attempts: number; claimedUntil: Date | null; lastError: string | null;
}

export const OutboxEntity = defineEntity({
  name: 'KernelOutbox',
  table: 'kernel_outbox',
  properties: {
    type: { type: 'string', length: 200 },
    eventKey: { type: 'string', length: 200, nullable: true },
    data: { type: 'json' },
    occurredAt: { type: 'datetime' },
    publishedAt: { type: 'datetime', nullable: true },
    attempts: { type: 'integer' },
    claimedUntil: { type: 'datetime', nullable: true },
    lastError: { type: 'string', length: 500, nullable: true },
  },
  // Pending rows in id order (and pruning by publishedAt): with publishedAt alone SQLite walks every row by id.
  indexes: [{ properties: ['publishedAt', 'id'], name: 'kernel_outbox_pending_index' }],
});

export const outboxMigrations: Migration[] = [{
  name: '0001_outbox',
  async up(knex) {
    await knex.schema.createTable('kernel_outbox', (t) => {
      t.string('id', 36).primary();
      t.string('type', 200).notNullable();
      t.string('event_key', 200).nullable();
      t.json('data').notNullable();
      t.datetime('occurred_at').notNullable();
      t.datetime('published_at').nullable().index();
      t.integer('attempts').notNullable();
      t.datetime('claimed_until').nullable();
      t.string('last_error', 500).nullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTable('kernel_outbox');
  },
}, receiptsMigration, {
  // The relay's read (`published_at is null order by id limit n`) seeks this index instead of scanning the table.
  name: '0003_outbox_pending_index',
  async up(knex) {
    await knex.schema.alterTable('kernel_outbox', (t) => {
      t.index(['published_at', 'id'], 'kernel_outbox_pending_index');
      t.dropIndex(['published_at']);
    });
  },
  async down(knex) {
    await knex.schema.alterTable('kernel_outbox', (t) => {
      t.index(['published_at']);
      t.dropIndex(['published_at', 'id'], 'kernel_outbox_pending_index');
    });
  },
}];

/** Adds the event to `em`'s unit of work; it is stored by the next flush. */
export function stageEvent(em: EntityManager, event: DomainEvent): void {
  const pk = em.getMetadata().get('KernelOutbox').primaryKeys[0]; // `_id` on Mongo
  const data = {
    [pk]: event.id,
    type: event.type,
    eventKey: event.key ?? null,
    data: event.data as object,
    occurredAt: new Date(event.occurredAt),
    publishedAt: null,
    attempts: 0,
    claimedUntil: null,
    lastError: null,
  };
  // A request's unit of work takes it as data (no entity made) for the insert path; else it is an entity to flush.
  if (stageRow(em, { entity: 'KernelOutbox', data })) return;
  em.create<OutboxRow>('KernelOutbox', data as unknown as OutboxRow);
}

const BATCH = 50;
/** How long a kick waits for more commits to join its pass. */
const KICK_WINDOW_MS = 5;
/** A kick this soon after the last pass ended is under load: it waits the window. */
const BUSY_MS = 20;
const CLAIM_MS = 30_000;
/** A claim with less than this left is not used for a publish (the bus call timeout is 5 s by default). */
const LEASE_MARGIN_MS = 10_000;
/** Published rows are kept this long (for inspection), then deleted by the relay. */
const RETAIN_MS = 24 * 3_600_000;
const PRUNE_EVERY_MS = 10 * 60_000;

/** Publishes pending outbox rows; several instances share the table by claiming rows first. */
export class OutboxRelay {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private lastPrune = 0;
  private lastPassEnd = -Infinity;
  /** Pending rows are read with prepared statements: MikroORM's query builder cost ~1 ms per pass. */
  private reads?: FastReads;
  private path?: FastReadPath;
  /** Claims and marks: one prepared statement per page on SQL drivers. */
  private store?: OutboxStore;

  constructor(
    private orm: MikroORM,
    private bus: EventBus,
    private clock: Clock,
    private logger: Logger,
    private pollMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.timer.unref();
    this.kick();
  }

  /**
   * Runs a pass soon (or right after the current one). Under load the pass starts a few ms later, so
   * that the commits of concurrent requests are claimed and marked in one statement each, not one per row.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // Busy (a pass ended moments ago): wait a few ms for more commits; else run on the next turn.
    const busy = performance.now() - this.lastPassEnd < BUSY_MS;
    this.running = new Promise<void>((r) => (busy ? setTimeout(r, KICK_WINDOW_MS) : setImmediate(r)))
      .then(() => this.drain())
      .catch((err) => this.logger.error({ err }, 'outbox relay pass failed'))
      .finally(() => {
        this.lastPassEnd = performance.now();
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Waits for the current pass, for tests and shutdown. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.idle();
  }

  /**
   * One pass: walks the unpublished rows in id order, a page at a time, and publishes each one
   * it can claim. Per-key order: a row waits while an earlier row with its key is unpublished
   * (backing off after a failure, or claimed by another instance). A page's rows are claimed
   * with one statement, with a lease from that moment; each publish is bounded by the bus call
   * timeout and is not started when less than the margin is left of the lease. The page's
   * published rows are then marked with one statement fenced by the lease, and the claims it
   * did not use are given back. Rows added meanwhile are the next pass's (a commit kicks one).
   */
  private async drain(): Promise<void> {
    if (this.clock.now() - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = this.clock.now();
      await this.prune();
    }
    await this.pass();
  }

  private async pass(): Promise<'progress' | 'idle' | 'failed'> {
    // Prepared reads (no query building, no identity map): the relay polls this on every pass.
    this.path ??= FastReadPath.for(this.orm);
    this.reads ??= this.path.bind();
    this.store ??= this.path.driver === 'mongodb' ? new EmOutboxStore(this.orm) : new SqlOutboxStore(this.path);
    const waiting = new Set<string>(); // keys with an earlier row not published by us in this pass
    let published = 0;
    let after: string | undefined;
    for (;;) {
      const rows = await this.reads.find<OutboxRow>(
        'KernelOutbox',
        { publishedAt: null, ...(after ? { id: { $gt: after } } : {}) },
        { orderBy: { id: 'asc' }, limit: BATCH },
      );
      if (!rows.length) break;
      after = rows[rows.length - 1].id;
      const page = await this.publishPage(this.store, rows, waiting);
      published += page.published;
      if (page.failed) return 'failed'; // the bus is likely down: wait for the next pass
      if (rows.length < BATCH) break;
    }
    return published ? 'progress' : 'idle';
  }

  private async publishPage(store: OutboxStore, rows: OutboxRow[], waiting: Set<string>) {
    const claimedAt = this.clock.now();
    const hold = (row: OutboxRow) => row.eventKey !== null && waiting.add(row.eventKey);
    const candidates: OutboxRow[] = [];
    for (const row of rows) {
      if (row.eventKey !== null && waiting.has(row.eventKey)) continue;
      if (row.claimedUntil && new Date(row.claimedUntil).getTime() >= claimedAt) hold(row); // busy
      else candidates.push(row);
    }
    const lease = new Date(claimedAt + CLAIM_MS);
    const claimed = await store.claim(candidates.map((r) => r.id), new Date(claimedAt), lease);
    const done: OutboxRow[] = [];
    const unused: string[] = [];
    let failed = false;
    for (const row of candidates) {
      if (!claimed.has(row.id)) {
        hold(row); // another instance has it
        continue;
      }
      // Waiting behind an earlier row; after a failure; or the lease is too short for a publish to finish in it.
      if (failed || (row.eventKey !== null && waiting.has(row.eventKey)) ||
        this.clock.now() >= lease.getTime() - LEASE_MARGIN_MS) {
        hold(row);
        unused.push(row.id);
        continue;
      }
      try {
        await this.bus.publish(toEvent(row));
        done.push(row);
      } catch (err) {
        failed = true;
        hold(row);
        const attempts = row.attempts + 1;
        const backoffMs = Math.min(60_000, 500 * 2 ** Math.min(attempts, 7));
        const message = String((err as Error).message).slice(0, 500);
        await store.failed(row.id, lease, attempts, message, new Date(this.clock.now() + backoffMs));
        this.logger.warn({ eventId: row.id, type: row.type, attempts }, 'outbox: publish failed, will retry');
      }
    }
    const marked = await store.markPublished(done.map((r) => r.id), lease, this.clock.date());
    for (const row of done) {
      if (marked.has(row.id)) continue;
      this.logger.warn(
        { eventId: row.id, type: row.type },
        'outbox: the claim expired during the publish; it may be delivered twice',
      );
    }
    await store.release(unused, lease);
    return { published: done.length, failed };
  }

  /** Deletes rows published more than a day ago. */
  async prune(): Promise<number> {
    return this.orm.em
      .fork()
      .nativeDelete<OutboxRow>('KernelOutbox', { publishedAt: { $lt: new Date(this.clock.now() - RETAIN_MS) } });
  }
}

function toEvent(row: OutboxRow): DomainEvent {
  return {
    id: row.id,
    type: row.type,
    occurredAt: new Date(row.occurredAt).toISOString(),
    data: row.data,
    ...(row.eventKey ? { key: row.eventKey } : {}),
  };
}
