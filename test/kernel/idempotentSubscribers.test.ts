import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin, defineEntity, p, records, type DomainEvent, type Migration } from '../../kernel/index.ts';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { EventBus, EventHandler } from '../../kernel/ports/eventBus.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { bootCustom } from '../helpers/custom.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { serviceUrl } from '../helpers/services.ts';
import { tempSqliteUrl } from '../helpers/kernel.ts';

const Entry = defineEntity({
  name: 'LedgerEntry',
  table: 'ledger_entries',
  properties: { eventId: { type: 'string', length: 100 } },
});
/** Marks are unique: a second event with a taken mark fails the handler's own flush. */
const Mark = defineEntity({
  name: 'LedgerMark',
  table: 'ledger_marks',
  properties: { mark: { type: 'string', length: 100 } },
  indexes: [{ properties: ['mark'], unique: true }],
});
/** Written by records().create, as notes' activity subscriber does: the insert path, the receipt as its data. */
const Booked = defineEntity('LedgerBooked', {
  table: 'ledger_booked',
  properties: { id: p.id(), eventId: p.string({ length: 100 }) },
});
const migrations: Migration[] = [
  {
    name: '0003',
    up: (knex) =>
      knex.schema.createTable('ledger_booked', (t) => {
        t.string('id', 36).primary();
        t.string('event_id', 100);
      }),
    down: (knex) => knex.schema.dropTable('ledger_booked'),
  },
  {
    name: '0001',
    up: (knex) =>
      knex.schema.createTable('ledger_entries', (t) => {
        t.string('id', 36).primary();
        t.string('event_id', 100);
      }),
    down: (knex) => knex.schema.dropTable('ledger_entries'),
  },
  {
    name: '0002',
    up: (knex) =>
      knex.schema.createTable('ledger_marks', (t) => {
        t.string('id', 36).primary();
        t.string('mark', 100).unique();
      }),
    down: (knex) => knex.schema.dropTable('ledger_marks'),
  },
];
let failNext = false;
let failRecord = false;
const ledger = definePlugin({
  name: 'ledger', version: '1.0.0', contract: false, entities: [Entry, Mark, Booked], migrations,
  events: [{ name: 'ledger.entry.requested', schema: { type: 'object' } }],
  subscribers: [{
    event: 'ledger.entry.requested', name: 'book', idempotent: true,
    async handle(event, { em }) {
      em.create('LedgerEntry', { eventId: event.id });
      if (failNext) { failNext = false; throw new Error('booking failed'); }
      await em.flush();
    },
  }, {
    event: 'ledger.entry.requested', name: 'mark', idempotent: true,
    async handle(event, { em }) {
      em.create('LedgerMark', { mark: (event.data as { mark?: string }).mark ?? event.id });
      await em.flush();
    },
  }, {
    event: 'ledger.entry.requested', name: 'record', idempotent: true,
    async handle(event, ctx) {
      if (failRecord) { failRecord = false; throw new Error('recording failed'); }
      await records(ctx, Booked).create({ eventId: event.id });
    },
  }, {
    // Writes nothing: its receipt alone is stored.
    event: 'ledger.entry.requested', name: 'quiet', idempotent: true, async handle() {},
  }],
});

/** A bus that hands deliveries to the test: it calls the kernel's handler itself, as often as it likes. */
const handlers = new Map<string, EventHandler<unknown>>();
const manual = defineAdapter<EventBus>({
  port: 'eventBus', name: 'manual', local: true, optionsSchema: { type: 'object' },
  create: () => ({
    async publish() {},
    async subscribe(topic, { group }, handler) {
      handlers.set(`${topic}/${group}`, handler as EventHandler<unknown>);
      return { async unsubscribe() {} };
    },
  }),
});

const event = (id: string, data: object = {}): DomainEvent => ({
  id,
  type: 'ledger.entry.requested',
  occurredAt: new Date().toISOString(),
  data,
});
const deliver = (e: DomainEvent) => handlers.get('ledger.entry.requested/ledger.book')!(e);
const count = (k: Kernel, entity: string, where: object) => k.orm!.em.fork().count(entity, where);

// SQL drivers: there the receipt and the handler's rows are one transaction (Mongo needs a replica set for that).
const pgUrl = serviceUrl('DATABASE_URL', 'idempotent subscribers on postgresql');
const makers: Array<[string, () => Promise<TestDatabase>]> = [
  ['sqlite', async () => ({ driver: 'sqlite', url: tempSqliteUrl(), drop: async () => {} })],
  ...(pgUrl ? [['postgresql', () => freshPostgres(pgUrl)] as [string, () => Promise<TestDatabase>]] : []),
];
for (const [driver, make] of makers) {
  const s = suite(
    `events (${driver}): an idempotent subscriber applies an event once, however often and concurrently it arrives`,
  );
  let db: TestDatabase;
  let kernel: Kernel;
  s.before(async () => {
    db = await make();
    kernel = await bootCustom({
      plugins: [ledger], adapters: { eventBus: { manual } },
      config: { adapters: { eventBus: { use: 'manual' } }, database: { driver: db.driver, url: db.url } },
    });
  });
  s.after(async () => { await kernel.stop(); await db.drop(); });

  s('the same event delivered twice, then eight times at once, is booked once', async () => {
    await deliver(event('evt-1'));
    await deliver(event('evt-1'));
    assert.is(await count(kernel, 'LedgerEntry', { eventId: 'evt-1' }), 1);

    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => deliver(event('evt-2'))));
    assert.equal(outcomes.filter((o) => o.status === 'rejected'), [], 'a duplicate is skipped, not failed');
    assert.is(await count(kernel, 'LedgerEntry', { eventId: 'evt-2' }), 1);
    assert.is(await count(kernel, 'KernelEventReceipt', { consumerGroup: 'ledger.book', eventId: 'evt-2' }), 1);
  });

  s('a handler that throws records nothing; the redelivery applies the event', async () => {
    failNext = true;
    const first = await Promise.resolve(deliver(event('evt-3'))).then(() => undefined, (e: Error) => e);
    assert.is(first?.message, 'booking failed');
    assert.is(await count(kernel, 'KernelEventReceipt', { eventId: 'evt-3' }), 0);
    assert.is(await count(kernel, 'LedgerEntry', { eventId: 'evt-3' }), 0);
    await deliver(event('evt-3'));
    assert.is(await count(kernel, 'LedgerEntry', { eventId: 'evt-3' }), 1);
  });

  s("the handler's own unique violation is a failure to redeliver, not a duplicate to skip", async () => {
    const mark = (e: DomainEvent) => handlers.get('ledger.entry.requested/ledger.mark')!(e);
    await mark(event('evt-4', { mark: 'taken' }));
    const clash = await Promise.resolve(mark(event('evt-5', { mark: 'taken' }))).then(() => undefined, (e: Error) => e);
    assert.ok(clash, 'the clash is thrown, so the bus delivers the event again');
    assert.is(await count(kernel, 'KernelEventReceipt', { consumerGroup: 'ledger.mark', eventId: 'evt-5' }), 0);
    await mark(event('evt-5', { mark: 'free' }));
    assert.is(await count(kernel, 'KernelEventReceipt', { consumerGroup: 'ledger.mark', eventId: 'evt-5' }), 1);
  });

  s('through the insert path (records().create): once however delivered; a failure stores nothing', async () => {
    const record = (e: DomainEvent) => handlers.get('ledger.entry.requested/ledger.record')!(e);
    const receipts = (group: string, eventId: string) =>
      count(kernel, 'KernelEventReceipt', { consumerGroup: group, eventId });
    await record(event('evt-6'));
    await record(event('evt-6'));
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => record(event('evt-7'))));
    assert.equal(outcomes.filter((o) => o.status === 'rejected'), [], 'a duplicate is skipped, not failed');
    assert.is(await count(kernel, 'LedgerBooked', { eventId: 'evt-6' }), 1);
    assert.is(await count(kernel, 'LedgerBooked', { eventId: 'evt-7' }), 1);
    assert.is(await receipts('ledger.record', 'evt-7'), 1);
    failRecord = true;
    const failed = await Promise.resolve(record(event('evt-8'))).then(() => undefined, (e: Error) => e);
    assert.is(failed?.message, 'recording failed');
    assert.is(await receipts('ledger.record', 'evt-8'), 0, 'no receipt: the redelivery runs it');
    await record(event('evt-8'));
    assert.is(await count(kernel, 'LedgerBooked', { eventId: 'evt-8' }), 1);
    // A handler that writes nothing: its receipt is stored alone, and a redelivery is skipped.
    const quiet = (e: DomainEvent) => handlers.get('ledger.entry.requested/ledger.quiet')!(e);
    await Promise.all([quiet(event('evt-9')), quiet(event('evt-9'))]);
    await quiet(event('evt-9'));
    assert.is(await receipts('ledger.quiet', 'evt-9'), 1);
  });

  s.run();
}
