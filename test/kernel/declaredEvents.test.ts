import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { definePlugin, defineEntity, type Migration, type PluginDefinition } from '../../kernel/index.ts';
import { eventGuard } from '../../kernel/events/declared.ts';
import { bootCustom } from '../helpers/custom.ts';

process.env.NODE_ENV ??= 'test'; // payload validation is on in tests (npm test sets it)

const s = suite(
  'events: plugins declare what they publish; undeclared publishes and subscriptions fail, naming the event',
);

const Row = defineEntity({
  name: 'DeclRow',
  table: 'decl_rows',
  properties: { title: { type: 'string', length: 50 } },
});
const migrations: Migration[] = [
  {
    name: '0001',
    up: (knex) =>
      knex.schema.createTable('decl_rows', (t) => {
        t.string('id', 36).primary();
        t.string('title', 50);
      }),
    down: (knex) => knex.schema.dropTable('decl_rows'),
  },
];
const publisher = definePlugin({
  name: 'decl',
  version: '1.0.0',
  contract: false,
  entities: [Row],
  migrations,
  events: [
    {
      name: 'decl.thing.created',
      schema: {
        type: 'object',
        required: ['id', 'title'],
        properties: { id: { type: 'string' }, title: { type: 'string' } },
      },
    },
    { name: 'decl.thing.deleted', schema: { type: 'object' } },
  ],
});

async function bootError(plugins: PluginDefinition[]): Promise<string> {
  try {
    const k = await bootCustom({ plugins });
    await k.stop();
  } catch (e) {
    return String((e as Error).message) + ((e as { problems?: string[] }).problems ?? []).join('\n');
  }
  assert.unreachable('the boot should fail');
  return '';
}

s('publishing an undeclared event throws, naming it and the declared list', async () => {
  const kernel = await bootCustom({ plugins: [publisher] });
  try {
    const publish = kernel.runtimes.get('decl')!.publish;
    const err = await publish('decl.thing.renamed', { id: 'x' }).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'the publish was refused');
    assert.is(err!.name, 'UndeclaredEventError');
    assert.match(err!.message, 'decl.thing.renamed');
    assert.match(err!.message, 'declared: decl.thing.created, decl.thing.deleted');
    await publish('decl.thing.created', { id: 'x', title: 't' }); // a declared one goes through
  } finally {
    await kernel.stop();
  }
});

s('in tests a payload is checked against the declared schema, with the field named', async () => {
  const kernel = await bootCustom({ plugins: [publisher] });
  try {
    const publish = kernel.runtimes.get('decl')!.publish;
    const missing = await publish('decl.thing.created', { id: 'x' }).then(() => undefined, (e: Error) => e);
    assert.is(missing?.name, 'EventPayloadError');
    assert.match(missing!.message, 'decl.thing.created');
    assert.match(missing!.message, 'title is required');
    const wrongType = await publish('decl.thing.created', { id: 'x', title: 3 }).then(() => undefined, (e: Error) => e);
    assert.match(wrongType!.message, /title must be string/);
  } finally {
    await kernel.stop();
  }
});

s('in production an undeclared publish is logged once and published; payloads are not validated', () => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (l: string) => { lines.push(l); } });
  const check = eventGuard(publisher, logger, { strict: false, validate: false });
  check('decl.thing.renamed', {});
  check('decl.thing.renamed', {});
  check('decl.thing.created', { wrong: true });
  assert.is(lines.length, 1);
  assert.match(lines[0], 'decl.thing.renamed');
});

s('a subscriber to an event no enabled plugin declares fails the boot, naming it', async () => {
  const listener = definePlugin({
    name: 'listener', version: '1.0.0', contract: false,
    subscribers: [
      { event: 'decl.thing.created', name: 'ok', async handle() {} },
      { event: 'decl.thing.renamde', name: 'typo', async handle() {} },
      { event: 'elsewhere.thing.done', name: 'absent', async handle() {} },
    ],
  });
  const message = await bootError([publisher, listener]);
  assert.match(
    message,
    'subscriber typo listens to decl.thing.renamde, but plugin decl does not declare it (declared: decl.thing.created, decl.thing.deleted)',
  );
  assert.match(message, 'subscriber absent listens to elsewhere.thing.done, but no enabled plugin declares it');
  assert.not.match(message, 'subscriber ok');
});

s('an event is declared under its plugin\'s prefix', async () => {
  const stray = definePlugin({
    name: 'stray',
    version: '1.0.0',
    contract: false,
    events: [{ name: 'other.thing.done', schema: {} }],
  });
  assert.match(
    await bootError([stray]),
    'plugin stray declares event other.thing.done, which must start with "stray."',
  );
});

s.run();
