import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/core';
import { testDatabases } from '../helpers/databases.ts';
import { openOrm } from '../../kernel/storage/orm.ts';
import { toEntitySchema } from '../../kernel/storage/schema.ts';
import { FastReadPath } from '../../kernel/storage/fastReads.ts';
import { HttpRequestContext } from '../../kernel/http/requestContext.ts';
import { scopeToPrincipal, ownerScopeOf } from '../../kernel/storage/ownership.ts';
import { AppError, defineEntity, p, unscoped, type RowOf } from '../../kernel/index.ts';

const Doc = defineEntity('OwnedDoc', {
  table: 'test_owned_docs',
  properties: { id: p.id(), ownerId: p.string({ length: 36 }), title: p.string({ length: 100 }) },
  indexes: [{ properties: ['ownerId'] }],
  ownedBy: 'ownerId',
});
type DocRow = RowOf<typeof Doc>;

const alice = { type: 'user', id: '0190a000-0000-7000-8000-00000000000a' };
const bob = { type: 'user', id: '0190a000-0000-7000-8000-00000000000b' };
const bobsKey = { type: 'user', credential: 'apiKey', id: bob.id };
const client = { type: 'client', id: '0190a000-0000-7000-8000-0000000000cc' };

async function rejects(work: () => Promise<unknown>, status: number, code: string) {
  try {
    await work();
  } catch (e) {
    assert.instance(e, AppError);
    assert.is((e as AppError).status, status);
    assert.is((e as AppError).code, code);
    return;
  }
  assert.unreachable(`expected ${status} ${code}`);
}

/** `ownedBy` on every driver: the request's principal scopes em and ctx.db, with no plugin code. */
for (const make of await testDatabases('kernel: ownership')) {
  const db = await make();
  const s = suite(`kernel: ownedBy on ${db.driver}`);
  let orm: MikroORM;
  let alicesId = '';
  const as = (principal: { type: string; id: string } | undefined) => scopeToPrincipal(orm.em.fork(), principal);

  s.before(async () => {
    const config = { driver: db.driver, url: db.url, migrate: 'off', debug: false, poolMax: 2 } as const;
    orm = await openOrm(config, [toEntitySchema(Doc, db.driver)], pino({ level: 'silent' }));
    if (db.driver !== 'mongodb') await orm.getSchemaGenerator().createSchema();
    const em = as(alice);
    const doc = em.create<DocRow>('OwnedDoc', { title: 'alice' } as DocRow);
    await em.flush();
    alicesId = doc.id;
  });
  s.after(async () => { await orm?.close(true); await db.drop(); });

  s('create stamps the owner from the principal', async () => {
    const row = await unscoped(orm.em).findOneOrFail<DocRow>('OwnedDoc', { id: alicesId });
    assert.is(row.ownerId, alice.id);
  });

  s("another user's row is not found, counted, updated or deleted", async () => {
    const em = as(bob);
    assert.is(await em.findOne<DocRow>('OwnedDoc', { id: alicesId }), null);
    assert.is((await em.find<DocRow>('OwnedDoc', {})).length, 0);
    assert.is(await em.count('OwnedDoc', {}), 0);
    assert.is(await em.nativeUpdate<DocRow>('OwnedDoc', { id: alicesId }, { title: 'bob was here' }), 0);
    assert.is(await em.nativeDelete<DocRow>('OwnedDoc', { id: alicesId }), 0);
    assert.is(await as(bobsKey).findOne('OwnedDoc', { id: alicesId }), null, "an API key acts for its user: bob's");
    const mine = await as(alice).findOneOrFail<DocRow>('OwnedDoc', { id: alicesId });
    assert.is(mine.title, 'alice', 'unchanged');
  });

  s('ctx.db fast reads are scoped the same way', async () => {
    const path = FastReadPath.for(orm);
    assert.is(await path.bind(undefined, () => ownerScopeOf(bob)).findOne('OwnedDoc', { id: alicesId }), null);
    assert.is((await path.bind(undefined, () => ownerScopeOf(bob)).find('OwnedDoc', {})).length, 0);
    const own = await path.bind(undefined, () => ownerScopeOf(alice)).findOne<DocRow>('OwnedDoc', { id: alicesId });
    assert.is(own?.title, 'alice');
    const viaEm = as(bob);
    assert.is(
      await path.bind(() => viaEm).findOne('OwnedDoc', { id: alicesId }),
      null,
      "without a scope of its own, em's",
    );
    await rejects(
      () => path.bind(undefined, () => ownerScopeOf(client)).findOne('OwnedDoc', { id: alicesId }),
      403,
      'USER_PRINCIPAL_REQUIRED',
    );
    assert.ok(await path.bind().findOne('OwnedDoc', { id: alicesId }).then(() => false, (e) => /unscoped/.test(String(e))),
      'no scope at all: refused');
  });

  s('an unscoped fast read sees every owner; a scoped one leaves the where it was given as it was', async () => {
    const path = FastReadPath.for(orm);
    const all = path.bind(undefined, () => ({ unscoped: true }));
    assert.is((await all.findOne<DocRow>('OwnedDoc', { id: alicesId }))?.title, 'alice');
    const where = { id: alicesId };
    assert.is(await path.bind(undefined, () => ownerScopeOf(bob)).findOne('OwnedDoc', where), null);
    assert.equal(where, { id: alicesId }, 'the owner condition is added to a copy');
  });

  s("a request context's owner scope follows its principal when it is reassigned", () => {
    const rctx = new HttpRequestContext({} as never, 'r1', 'op', pino({ level: 'silent' }), {} as never, undefined);
    assert.equal(rctx.ownerScope(), { refused: 'anonymous' });
    rctx.principal = alice as never;
    assert.equal(rctx.ownerScope(), { userId: alice.id });
    assert.is(rctx.ownerScope(), rctx.ownerScope(), 'made once per principal');
    rctx.principal = bob as never;
    assert.equal(rctx.ownerScope(), { userId: bob.id });
  });

  s("a row cannot be created for, or moved to, another owner under a user's scope", async () => {
    await rejects(async () => {
      const em = as(alice);
      em.create<DocRow>('OwnedDoc', { title: 'for bob', ownerId: bob.id } as DocRow);
      await em.flush();
    }, 403, 'OWNER_MISMATCH');
    await rejects(async () => {
      const em = as(alice);
      const mine = await em.findOneOrFail<DocRow>('OwnedDoc', { id: alicesId });
      mine.ownerId = bob.id;
      await em.flush();
    }, 403, 'OWNER_MISMATCH');
    assert.is((await unscoped(orm.em).findOneOrFail<DocRow>('OwnedDoc', { id: alicesId })).ownerId, alice.id);
  });

  s(
    'a client-credentials principal is refused with 403 USER_PRINCIPAL_REQUIRED, an anonymous one with 401',
    async () => {
      await rejects(() => as(client).find('OwnedDoc', {}), 403, 'USER_PRINCIPAL_REQUIRED');
      await rejects(
        async () => {
          const em = as(client);
          em.create('OwnedDoc', { title: 'by a client' });
          await em.flush();
        },
        403,
        'USER_PRINCIPAL_REQUIRED',
      );
      await rejects(() => as(undefined).find('OwnedDoc', {}), 401, 'UNAUTHORIZED');
    },
  );

  s(
    'outside a request an owned entity needs an explicit bypass: unscoped(em) or filters: { owner: false }',
    async () => {
      let threw = false;
      try {
        await orm.em.fork().find('OwnedDoc', {});
      } catch (e) {
        threw = /unscoped/.test(String(e));
      }
      assert.ok(threw, 'a plain fork refuses');
      assert.is((await unscoped(orm.em).find('OwnedDoc', {})).length, 1);
      assert.is((await as(bob).find('OwnedDoc', {}, { filters: { owner: false } })).length, 1);
    },
  );

  s.run();
}
