/** Written with the test kit only: what a plugin author's test looks like. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin, defineEntity, reply, type Migration } from '../../kernel/index.ts';
import { startTestKernel, assertError, type TestKit } from './index.ts';

const Item = defineEntity({
  name: 'TallyItem',
  table: 'tally_items',
  properties: { label: { type: 'string', length: 50 } },
});
const Seen = defineEntity({
  name: 'TallySeen',
  table: 'tally_seen',
  properties: { itemId: { type: 'string', length: 36 } },
});
const migrations: Migration[] = [{
  name: '0001',
  async up(knex) {
    await knex.schema.createTable('tally_items', (t) => { t.string('id', 36).primary(); t.string('label', 50); });
    await knex.schema.createTable('tally_seen', (t) => { t.string('id', 36).primary(); t.string('item_id', 36); });
  },
  down: (knex) => knex.schema.dropTable('tally_items').dropTable('tally_seen'),
}];
const tally = definePlugin({
  name: 'tally',
  version: '1.0.0',
  entities: [Item, Seen],
  migrations,
  config: { type: 'object', additionalProperties: false, properties: { unit: { type: 'string', default: 'items' } } },
  permissions: [{ name: 'tally:audit', description: 'See the audit view', roles: ['admin'] }],
  events: [
    { name: 'tally.item.added', schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } },
  ],
  subscribers: [
    {
      event: 'tally.item.added',
      name: 'count',
      idempotent: true,
      async handle(event, { em }) {
        em.create('TallySeen', { itemId: (event.data as { id: string }).id });
      },
    },
  ],
  handlers: {
    // Destructured on purpose: `publish` works without its context object.
    'tally.add': async ({ body }, { em, publish }) => {
      const item = em.create<{ id: string; label: string }>('TallyItem', {
        label: (body as { label: string }).label,
      });
      await publish('tally.item.added', { id: item.id });
      await em.flush();
      return reply(201, { id: item.id });
    },
    'tally.count': async (_req, { em, services }) => ({
      seen: await em.count('TallySeen', {}),
      unit: (services as { config: { unit: string } }).config.unit,
    }),
    'tally.misnamed': async (_req, ctx) => {
      await ctx.publish('tally.item.addded', { id: 'x' });
      return reply(201, {});
    },
    'tally.audit': () => ({ ok: true }),
  },
});
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const contract = {
  openapi: '3.1.0',
  info: { title: 'tally', version: '1' },
  security: [{ bearerAuth: [] }], // one line: every operation below needs a signed-in caller
  paths: {
    '/tally/items': {
      post: {
        operationId: 'tally.add',
        'x-permissions': [],
        requestBody: {
          required: true,
          ...json({ type: 'object', required: ['label'], properties: { label: { type: 'string' } } }),
        },
        responses: {
          201: {
            description: 'added',
            ...json({ type: 'object', required: ['id'], properties: { id: { type: 'string' } } }),
          },
        },
      },
    },
    '/tally/count': {
      get: {
        operationId: 'tally.count',
        'x-permissions': [],
        responses: {
          200: {
            description: 'count',
            ...json({ type: 'object', properties: { seen: { type: 'integer' }, unit: { type: 'string' } } }),
          },
        },
      },
    },
    '/tally/misnamed': {
      post: {
        operationId: 'tally.misnamed',
        'x-permissions': [],
        responses: { 201: { description: 'never', ...json({ type: 'object' }) } },
      },
    },
    '/tally/audit': {
      get: {
        operationId: 'tally.audit',
        'x-permissions': ['tally:audit'],
        responses: { 200: { description: 'ok', ...json({ type: 'object' }) } },
      },
    },
  },
};

const s = suite('test kit: a plugin tested with startTestKernel, asUser, asAdmin and settle only');
let k: TestKit;
s.before(async () => {
  // Only the plugin's own section is given: the default deployment (identity, its admin, SQLite...) stays.
  k = await startTestKernel({
    plugins: [tally],
    contracts: { tally: contract },
    config: { plugins: { tally: { unit: 'marbles' } } },
    printErrors: false,
  });
});
s.after(() => k.stop());

s('the config is merged into the default, and a top-level security line covers every operation', async () => {
  assert.is(k.basePath, '/v1');
  assertError(await k.get('/v1/tally/count'), 401);
  const alice = await k.asUser('alice');
  const res = await alice.get('/v1/tally/count');
  assert.is(res.status, 200, res.text);
  assert.is(res.body.unit, 'marbles');
});

s('settle() waits until the subscriber has counted every event', async () => {
  const alice = await k.asUser();
  const before = (await alice.get('/v1/tally/count')).body.seen as number;
  const added = await Promise.all(['a', 'b', 'c'].map((label) => alice.post('/v1/tally/items', { label })));
  assert.equal(added.map((r) => r.status), [201, 201, 201]);
  await k.settle();
  assert.is((await alice.get('/v1/tally/count')).body.seen, before + 3);
});

s('asAdmin() holds what asUser() does not', async () => {
  const bob = await k.asUser('bob');
  assertError(await bob.get('/v1/tally/audit'), 403);
  const admin = await k.asAdmin();
  assert.is((await admin.get('/v1/tally/audit')).status, 200);
  assert.ok(admin.id, 'the admin has an id');
});

s('a misnamed event is a 500 whose reason is in the kernel errors (printed to stderr by default)', async () => {
  const carol = await k.asUser();
  const seen = k.errors.length;
  assertError(await carol.post('/v1/tally/misnamed'), 500);
  const logged = k.errors.slice(seen).join('\n');
  assert.match(logged, 'tally.item.addded');
  assert.match(logged, 'declared: tally.item.added');
});

s.run();
