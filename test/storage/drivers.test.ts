import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel, assertError } from '../helpers/kernel.ts';
import { testDatabases } from '../helpers/databases.ts';
import { signedIn } from '../helpers/signedIn.ts';
import { isUuidV7 } from '../../kernel/ports/ids.ts';

/** The example plugin's whole path (contract, entity, handlers, event, subscriber) on every driver. */
for (const make of await testDatabases('storage: notes path')) {
  const db = await make();
  const s = suite(`storage: notes on ${db.driver}`);
  let k: Awaited<ReturnType<typeof startKernel>>;
  // Notes are user-owned: every request is sent as one signed-in user.
  s.before(async () => { k = await signedIn(await startKernel({ database: { driver: db.driver, url: db.url } })); });
  s.after(async () => { await k?.stop(); await db.drop(); });

  s('CRUD with UUIDv7 string ids', async () => {
    const created = await k.request('POST', '/v1/notes', { body: { title: 'on ' + db.driver, body: 'b' } });
    assert.is(created.status, 201, created.text);
    assert.ok(isUuidV7(created.body.id), created.body.id);
    const got = await k.request('GET', `/v1/notes/${created.body.id}`);
    assert.is(got.body.title, 'on ' + db.driver);
    const patched = await k.request('PATCH', `/v1/notes/${created.body.id}`, { body: { title: 'changed' } });
    assert.is(patched.body.title, 'changed');
    assert.ok(Date.parse(patched.body.updatedAt) >= Date.parse(created.body.updatedAt));
    assert.is((await k.request('DELETE', `/v1/notes/${created.body.id}`)).status, 204);
    assertError(await k.request('GET', `/v1/notes/${created.body.id}`), 404, 'NOT_FOUND');
  });

  s('keyset paging is newest first and complete', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await k.request('POST', '/v1/notes', { body: { title: `p${i}` } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await k.request('GET', `/v1/notes?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      assert.is(page.status, 200, page.text);
      seen.push(...page.body.data.map((n: { id: string }) => n.id));
      cursor = page.body.pagination.nextCursor;
    } while (cursor);
    assert.equal(seen, [...ids].reverse());
  });

  s('the emitted event is recorded by the subscriber', async () => {
    const created = await k.request('POST', '/v1/notes', { body: { title: 'evt' } });
    const bus = k.kernel.root.cradle.eventBus as { drain?: () => Promise<void> };
    const deadline = Date.now() + 5000;
    let data: unknown[] = [];
    while (Date.now() < deadline) {
      await bus.drain?.();
      data = (await k.request('GET', `/v1/notes/${created.body.id}/activity`)).body.data;
      if (data.length) break;
    }
    assert.is(data.length, 1);
  });

  s('readiness checks the database', async () => {
    const ready = await k.request('GET', '/health/ready');
    assert.is(ready.status, 200, ready.text);
    assert.ok(ready.body.checks.some((c: { name: string; ok: boolean }) => c.name === 'database' && c.ok));
  });

  if (db.driver === 'mongodb') {
    s('indexes declared by entities exist on Mongo', async () => {
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(db.url, { serverSelectionTimeoutMS: 3000 });
      try {
        await client.connect();
        const indexes = await client.db().collection('notes_activity').listIndexes().toArray();
        const unique = indexes.find((i) => i.key.eventId === 1);
        assert.ok(unique, JSON.stringify(indexes));
        assert.is(unique!.unique, true);
        assert.ok(indexes.some((i) => i.key.noteId === 1));
      } finally {
        await client.close();
      }
    });
  }

  s.run();
}
