import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/core';
import { testDatabases } from '../helpers/databases.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { FastReadPath } from '../../kernel/storage/fastReads.ts';
import { ownerScopeOf, scopeToPrincipal } from '../../kernel/storage/ownership.ts';
import {
  AppError, defineEntity, p, records, scopedTo, unscoped, type Publish, type RowOf,
} from '../../kernel/index.ts';

/** `records()`: owned CRUD with no plugin code, on every driver. */
const Link = defineEntity('RecLink', {
  table: 'test_rec_links',
  properties: {
    id: p.id(),
    ownerId: p.string({ length: 36 }),
    url: p.string({ length: 200 }),
    starred: p.boolean({ default: false }),
    secret: p.string({ length: 50, nullable: true, hidden: true }),
    tags: p.array(p.string()),
    visitedAt: p.datetime({ nullable: true }),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['ownerId'] }],
  ownedBy: 'ownerId',
});
type LinkRow = RowOf<typeof Link>;

const alice = { type: 'user', id: '0190b000-0000-7000-8000-00000000000a' };
const bob = { type: 'user', id: '0190b000-0000-7000-8000-00000000000b' };

for (const make of await testDatabases('storage: records')) {
  const db = await make();
  const s = suite(`storage: records() on ${db.driver}`);
  let orm: MikroORM;
  const published: Array<{ type: string; data: unknown; key?: string }> = [];
  /** A request's cradle for `principal`: its scoped em and db, and a publish that records what it is given. */
  const cradle = (principal: { type: string; id: string }) => {
    const em = scopeToPrincipal(orm.em.fork(), principal);
    const publish: Publish = async (type, data, o) => {
      published.push({ type, data, key: o?.key });
      return { id: 'e', type, data, occurredAt: new Date().toISOString() } as never;
    };
    return { em, db: FastReadPath.for(orm).bind(() => em, () => ownerScopeOf(principal)), publish };
  };
  const links = (principal = alice) => records(cradle(principal), Link, {
    events: { created: 'test.link.created', updated: 'test.link.updated', deleted: 'test.link.deleted' },
  });

  s.before(async () => {
    const config = { driver: db.driver, url: db.url, migrate: 'off', debug: false, poolMax: 2 } as const;
    orm = await openOrm(config, [toEntitySchema(Link, db.driver)], pino({ level: 'silent' }));
    if (db.driver !== 'mongodb') await orm.getSchemaGenerator().createSchema();
  });
  s.after(async () => { await orm?.close(true); await db.drop(); });

  s('create stamps the owner, applies defaults, publishes the view and returns it (no owner, no hidden)', async () => {
    const made = await links().create({ url: 'https://a.example', secret: 's3cret', tags: ['x'] });
    assert.equal(Object.keys(made).sort(), ['createdAt', 'id', 'starred', 'tags', 'updatedAt', 'url', 'visitedAt']);
    assert.match(made.id, /^[0-9a-f-]{36}$/, 'the id is set before the flush (on MongoDB too, where it is `_id`)');
    assert.is(made.starred, false);
    assert.equal(made.tags, ['x']);
    assert.is(made.visitedAt, null);
    assert.ok(!Number.isNaN(Date.parse(made.createdAt)) && made.createdAt.endsWith('Z'), 'an ISO string');
    const event = { type: 'test.link.created', data: { ...made, ownerId: alice.id }, key: made.id };
    assert.equal(published.at(-1), event, 'the event carries the owner too');
    const row = await unscoped(orm.em).findOneOrFail<LinkRow>('RecLink', { id: made.id });
    assert.is(row.ownerId, alice.id);
    assert.is(row.secret, 's3cret', 'stored, only left out of the view');
  });

  s("get, update and delete: another owner's row is a 404 that changes nothing", async () => {
    const { id } = await links().create({ url: 'https://mine.example' });
    for (const attempt of [
      () => links(bob).get(id), () => links(bob).update(id, { url: 'https://bob.example' }),
      () => links(bob).delete(id), () => links(bob).load(id),
    ]) {
      const err = await attempt().then(() => undefined, (e: unknown) => e);
      assert.instance(err, AppError);
      assert.is((err as AppError).status, 404);
    }
    assert.is((await links().get(id)).url, 'https://mine.example');
    const changed = await links().update(id, { starred: true, visitedAt: new Date('2026-01-02T03:04:05Z') });
    assert.is(changed.starred, true);
    assert.is(changed.visitedAt, '2026-01-02T03:04:05.000Z');
    assert.is(published.at(-1)?.type, 'test.link.updated');
    const staged = published.at(-1)?.data as { updatedAt: string; visitedAt: string };
    assert.is(staged.visitedAt, changed.visitedAt, 'the event sees the change');
    // updatedAt is set for the event, and again by the flush a moment later.
    assert.ok(Math.abs(Date.parse(staged.updatedAt) - Date.parse(changed.updatedAt)) < 1000, staged.updatedAt);
    await links().delete(id);
    assert.equal(published.at(-1), { type: 'test.link.deleted', data: { ...changed, ownerId: alice.id }, key: id });
    assert.is((await links().get(id).then(() => undefined, (e: AppError) => e))?.status, 404);
  });

  s('list: pages, ignores undefined filters, matches array members, scoped to the owner', async () => {
    for (const [url, tags, starred] of [['https://1', ['a'], true], ['https://2', ['a', 'b'], false],
      ['https://3', ['b'], true]] as const) {
      await links().create({ url, tags: [...tags], starred });
    }
    await records(cradle(bob), Link).create({ url: 'https://bob', tags: ['a'] });
    const urls = async (filter: Parameters<ReturnType<typeof links>['list']>[1], limit = 100) =>
      (await links().list({ style: 'cursor', limit }, filter)).data.map((l) => l.url).filter((u) => u.length < 10);
    assert.equal(await urls({ tags: 'a' }), ['https://2', 'https://1'], 'newest first, only alice\'s');
    assert.equal(await urls({ tags: 'b', starred: true }), ['https://3']);
    assert.equal(await urls({ starred: undefined, tags: undefined }), ['https://3', 'https://2', 'https://1']);
    const first = await links().list({ style: 'cursor', limit: 1 }, { tags: 'a' });
    assert.is(first.data.length, 1);
    const next = await links().list({ style: 'cursor', limit: 5, cursor: first.pagination.nextCursor! }, { tags: 'a' });
    assert.equal(next.data.map((l) => l.url), ['https://1']);
    const paged = await links().list({ style: 'page', limit: 2, page: 1 }, { tags: 'b' });
    assert.is(paged.pagination.total, 2);
    assert.is(paged.pagination.hasMore, false);
  });

  s('all: ordered by a property, limited, filtered', async () => {
    const all = await links().all({ starred: true }, { orderBy: 'url', order: 'desc' });
    assert.equal(all.map((l) => l.url), ['https://3', 'https://1']);
    assert.is((await links().all({}, { limit: 1 })).length, 1);
    assert.equal((await links().all({ tags: 'b' }, { orderBy: 'url' })).map((l) => l.url), ['https://2', 'https://3']);
  });

  s('first: the oldest managed match or null; scopedTo gives an em outside a request one owner', async () => {
    const outside = () => scopedTo(orm.em.fork(), alice.id);
    const first = await records({ em: outside() }, Link).first({ tags: 'a' });
    assert.is(first?.url, 'https://1');
    assert.is(await records({ em: outside() }, Link).first({ url: 'https://bob' }), null, "bob's row is not alice's");
    const em = outside();
    const mine = await records({ em }, Link).first({ url: 'https://1' });
    mine!.starred = false;
    await em.flush();
    assert.is((await links().all({ starred: false })).some((l) => l.url === 'https://1'), true, 'a managed row');
    const bobs = records({ em: scopedTo(orm.em.fork(), bob.id) }, Link);
    const made = await bobs.create({ url: 'https://bob2' });
    assert.is((await unscoped(orm.em).findOneOrFail<LinkRow>('RecLink', { id: made.id })).ownerId, bob.id);
  });

  s('a custom view, and events without a publish are refused', async () => {
    const urls = records(cradle(alice), Link, { view: (l) => l.url.toUpperCase() });
    assert.ok((await urls.all({ starred: true })).includes('HTTPS://3'));
    const bare = records({ em: scopeToPrincipal(orm.em.fork(), alice) }, Link, { events: { created: 'test.x' } });
    const err = await bare.create({ url: 'https://x' }).catch((e: Error) => e);
    assert.match(String(err), /publishing test\.x needs a request's container/);
  });
  s.run();
}
