import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin, reply, defineEntity, type Migration } from '../../kernel/index.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request } from '../helpers/kernel.ts';

const s = suite('events: the kernel refuses an event published after its change was flushed');

const Thing = defineEntity({
  name: 'UowThing',
  table: 'uow_things',
  properties: { title: { type: 'string', length: 50 } },
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
];
const plugin = definePlugin({
  name: 'uow',
  version: '1.0.0',
  entities: [Thing],
  migrations,
  events: [{ name: 'uow.thing.created', schema: { type: 'object' } }],
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
  paths: { '/uow/late': op('uow.late'), '/uow/right': op('uow.right') },
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

s.run();
