import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UnitOfWork } from '@mikro-orm/core';
import { definePlugin, defineServices, reply, defineEntity, records, p, type Migration } from '../../kernel/index.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request } from '../helpers/kernel.ts';

const s = suite('events: the kernel refuses an event published after its change was flushed');

const Thing = defineEntity({
  name: 'UowThing',
  table: 'uow_things',
  properties: { title: { type: 'string', length: 50 } },
});
/** Written by records().create: the insert path. */
const Item = defineEntity('UowItem', {
  table: 'uow_items',
  properties: { id: p.id(), title: p.string({ length: 50 }) },
});
const migrations: Migration[] = [
  {
    name: '0001',
    up: (knex) =>
      knex.schema.createTable('uow_things', (t) => {
        t.string('id', 36).primary();
        t.string('title', 50);
      }),
    down: (knex) => knex.schema.dropTable('uow_things'),
  },
  {
    name: '0002',
    up: (knex) =>
      knex.schema.createTable('uow_items', (t) => {
        t.string('id', 36).primary();
        t.string('title', 50);
      }),
    down: (knex) => knex.schema.dropTable('uow_items'),
  },
];
const plugin = definePlugin({
  name: 'uow',
  version: '1.0.0',
  entities: [Thing, Item],
  migrations,
  events: [{ name: 'uow.thing.created', schema: { type: 'object' } }],
  // As notes does: a scoped service whose `em` is the request's lazy one.
  services: defineServices().scoped('items', (c) => records(c, Item, { events: { created: 'uow.thing.created' } })),
  handlers: {
    'uow.late': async (_req, ctx) => {
      const thing = ctx.em.create<any>('UowThing', { title: 'late' });
      await ctx.em.flush();
      await ctx.publish('uow.thing.created', { id: thing.id });
      return reply(201, { id: thing.id });
    },
    'uow.right': async (_req, ctx) => {
      const thing = ctx.em.create<any>('UowThing', { title: 'right' });
      await ctx.publish('uow.thing.created', { id: thing.id });
      await ctx.em.flush();
      return reply(201, { id: thing.id });
    },
    // The insert path (records().create writes the row and its outbox row): nothing is left for the settle's flush.
    'uow.insert': async (_req, ctx) => {
      const view = await records(ctx, Item, { events: { created: 'uow.thing.created' } }).create({ title: 'ins' });
      return reply(201, view);
    },
    'uow.service': async (_req, { services }) =>
      reply(201, await (services as { items: { create(v: object): Promise<object> } }).items.create({ title: 's' })),
    // A change left pending after the insert path: the settle's flush still writes it.
    'uow.pending': async (_req, ctx) => {
      const view = await records(ctx, Item, { events: { created: 'uow.thing.created' } }).create({ title: 'p' });
      const right = await ctx.em.findOneOrFail<any>('UowThing', { title: 'right' });
      right.title = 'changed';
      return reply(201, view);
    },
  },
});
const op = (operationId: string) => ({
  post: {
    operationId,
    responses: { 201: { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } } },
  },
});
const contract = {
  openapi: '3.1.0',
  info: { title: 'uow', version: '1' },
  paths: {
    '/uow/late': op('uow.late'), '/uow/right': op('uow.right'),
    '/uow/insert': op('uow.insert'), '/uow/pending': op('uow.pending'), '/uow/service': op('uow.service'),
  },
};

s(
  'publish after flush fails the request outside production; publish before flush stores both in one flush',
  async () => {
    const kernel = await bootCustom({ plugins: [plugin], contracts: { uow: contract } });
    const { port } = await kernel.listen();
    const base = `http://127.0.0.1:${port}`;
    try {
      const right = await request(base, 'POST', '/v1/uow/right');
      assert.is(right.status, 201, right.text);
      const late = await request(base, 'POST', '/v1/uow/late');
      assert.is(late.status, 500, 'the mistake is a failure, not a silent second transaction');
      const em = kernel.orm!.em.fork();
      assert.is(
        await em.count('KernelOutbox', { type: 'uow.thing.created' }),
        2,
        'the late event is still stored, not lost',
      );
    } finally {
      await kernel.stop();
    }
  },
);

s('the settle runs no flush after the insert path, and still flushes a change a handler left pending', async () => {
  const kernel = await bootCustom({ plugins: [plugin], contracts: { uow: contract } });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  const commit = UnitOfWork.prototype.commit;
  let commits = 0;
  UnitOfWork.prototype.commit = function counted(this: UnitOfWork) {
    commits++;
    return commit.call(this);
  };
  try {
    assert.is((await request(base, 'POST', '/v1/uow/right')).status, 201);
    const flushed = commits;
    assert.ok(flushed >= 1, 'a handler\'s em.flush() is a unit-of-work commit');
    const inserted = await request(base, 'POST', '/v1/uow/insert');
    assert.is(inserted.status, 201, inserted.text);
    assert.is(commits, flushed, 'no em.flush() after the insert path wrote the row and its event');
    const pending = await request(base, 'POST', '/v1/uow/pending');
    assert.is(pending.status, 201, pending.text);
    assert.is(commits, flushed + 1, 'the pending change took the settle\'s flush');
    // Through a scoped service (its `em` the request's lazy proxy): the row and its event in one transaction.
    // Counted by MikroORM's transaction events, which every path dispatches (the insert path's one-statement too).
    let transactions = 0;
    let counting = true;
    kernel.orm!.em.getEventManager().registerSubscriber({
      afterTransactionStart: async () => { if (counting) transactions++; },
    });
    try {
      const served = await request(base, 'POST', '/v1/uow/service');
      assert.is(served.status, 201, served.text);
    } finally {
      counting = false;
    }
    assert.is(transactions, 1, 'the note-like row and its outbox row are written by one transaction');
    const em = kernel.orm!.em.fork();
    assert.is(await em.count('UowThing', { title: 'changed' }), 1, 'the pending change is stored');
    assert.is(await em.count('UowItem', { title: { $in: ['ins', 'p', 's'] } }), 3);
    assert.is(await em.count('KernelOutbox', { type: 'uow.thing.created' }), 4, 'every event is stored');
    // A flush listener that follows another entity (as realtime's does) is not told of an empty flush: still none.
    const told: number[] = [];
    kernel.orm!.em.getEventManager().registerSubscriber({
      getSubscribedEntities: () => ['UowThing'],
      afterFlush: async ({ uow }) => { told.push(uow.getChangeSets().length); },
    });
    const before = commits;
    assert.is((await request(base, 'POST', '/v1/uow/insert')).status, 201);
    assert.is(commits, before, 'no empty flush for a listener of other entities');
    assert.is((await request(base, 'POST', '/v1/uow/right')).status, 201);
    assert.ok(told.some((n) => n > 0), `it still sees the flushes of its entity: ${told.join(',')}`);
  } finally {
    UnitOfWork.prototype.commit = commit;
    await kernel.stop();
  }
});

s.run();
