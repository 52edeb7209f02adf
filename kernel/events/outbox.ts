import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { defineEntity } from '../storage/entity.ts';
import type { Migration } from '../storage/migrations.ts';
import type { DomainEvent, EventBus } from '../ports/eventBus.ts';
import type { Clock } from '../ports/clock.ts';
import { FastReadPath, type FastReads } from '../storage/fastReads.ts';
import { receiptsMigration } from './receipts.ts';

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
  indexes: [{ properties: ['publishedAt'] }],
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
}, receiptsMigration];

/** Adds the event to `em`'s unit of work; it is stored by the next flush. */
export function stageEvent(em: EntityManager, event: DomainEvent): void {
  const pk = em.getMetadata().get('KernelOutbox').primaryKeys[0]; // `_id` on Mongo
  em.create<OutboxRow>('KernelOutbox', {
    [pk]: event.id,
    type: event.type,
    eventKey: event.key ?? null,
    data: event.data as object,
    occurredAt: new Date(event.occurredAt),
    publishedAt: null,
    attempts: 0,
    claimedUntil: null,
    lastError: null,
  } as unknown as OutboxRow);
}

const BATCH = 50;
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
  /** Pending rows are read with prepared statements: MikroORM's query builder cost ~1 ms per pass. */
  private reads?: FastReads;

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

  /** Runs a pass now (or right after the current one). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err) => this.logger.error({ err }, 'outbox relay pass failed'))
      .finally(() => {
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
   * One pass: walks the unpublished rows in id order and publishes each one it can claim.
   * Per-key order: a row waits while an earlier row with its key is unpublished (backing off
   * after a failure, or claimed by another instance). Each claim is taken just before its
   * publish, with a lease from that moment; the publish is bounded by the bus call timeout,
   * far below the lease, and is skipped when the lease has run out meanwhile.
   */
  private async drain(): Promise<void> {
    if (this.clock.now() - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = this.clock.now();
      await this.prune();
    }
    for (;;) {
      const outcome = await this.pass();
      if (outcome !== 'progress') return;
    }
  }

  private async pass(): Promise<'progress' | 'idle' | 'failed'> {
    const em = this.orm.em.fork();
    const waiting = new Set<string>(); // keys with an earlier row not published by us in this pass
    let published = 0;
    let after: string | undefined;
    for (;;) {
      // A prepared read (no query building, no identity map): the relay polls this on every pass.
      this.reads ??= FastReadPath.for(this.orm).bind();
      const rows = await this.reads.find<OutboxRow>(
        'KernelOutbox',
        { publishedAt: null, ...(after ? { id: { $gt: after } } : {}) },
        { orderBy: { id: 'asc' }, limit: BATCH },
      );
      if (!rows.length) return published ? 'progress' : 'idle';
      after = rows[rows.length - 1].id;
      for (const row of rows) {
        const key = row.eventKey;
        if (key !== null && waiting.has(key)) continue;
        const outcome = await this.publishOne(em, row);
        if (outcome === 'published') {
          published++;
          continue;
        }
        if (key !== null) waiting.add(key);
        if (outcome === 'failed') return 'failed'; // the bus is likely down: wait for the next pass
      }
    }
  }

  private async publishOne(em: EntityManager, row: OutboxRow): Promise<'published' | 'busy' | 'failed'> {
    const claimedAt = this.clock.now();
    if (row.claimedUntil && new Date(row.claimedUntil).getTime() >= claimedAt) return 'busy';
    const lease = new Date(claimedAt + CLAIM_MS);
    const claimed = await em.nativeUpdate<OutboxRow>(
      'KernelOutbox',
      { id: row.id, publishedAt: null, claimedUntil: row.claimedUntil },
      { claimedUntil: lease },
    );
    if (claimed !== 1) return 'busy'; // another instance has it
    if (this.clock.now() >= lease.getTime() - LEASE_MARGIN_MS) return 'busy'; // the claim itself was slow: leave it
    try {
      await this.bus.publish({
        id: row.id,
        type: row.type,
        occurredAt: new Date(row.occurredAt).toISOString(),
        data: row.data,
        ...(row.eventKey ? { key: row.eventKey } : {}),
      });
    } catch (err) {
      const attempts = row.attempts + 1;
      const backoffMs = Math.min(60_000, 500 * 2 ** Math.min(attempts, 7));
      await em.nativeUpdate<OutboxRow>(
        'KernelOutbox',
        { id: row.id, claimedUntil: lease },
        {
          attempts,
          lastError: String((err as Error).message).slice(0, 500),
          claimedUntil: new Date(this.clock.now() + backoffMs),
        },
      );
      this.logger.warn({ eventId: row.id, type: row.type, attempts }, 'outbox: publish failed, will retry');
      return 'failed';
    }
    const marked = await em.nativeUpdate<OutboxRow>(
      'KernelOutbox',
      { id: row.id, claimedUntil: lease },
      { publishedAt: this.clock.date(), claimedUntil: null },
    );
    if (marked !== 1) {
      this.logger.warn(
        { eventId: row.id, type: row.type },
        'outbox: the claim expired during the publish; it may be delivered twice',
      );
    }
    return 'published';
  }

  /** Deletes rows published more than a day ago. */
  async prune(): Promise<number> {
    return this.orm.em
      .fork()
      .nativeDelete<OutboxRow>('KernelOutbox', { publishedAt: { $lt: new Date(this.clock.now() - RETAIN_MS) } });
  }
}
