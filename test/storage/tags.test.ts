import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel, assertError } from '../helpers/kernel.ts';
import { testDatabases } from '../helpers/databases.ts';
import { signedIn } from '../helpers/signedIn.ts';

/** `?tag=` on notes.list: array membership through whereHasTag, the same on every driver. */
for (const make of await testDatabases('storage: tag filter')) {
  const db = await make();
  const s = suite(`storage: tag filter on ${db.driver}`);
  let anonymous: Awaited<ReturnType<typeof startKernel>>;
  let k: Awaited<ReturnType<typeof startKernel>>;
  const ids: Record<string, string> = {};
  s.before(async () => {
    anonymous = await startKernel({ database: { driver: db.driver, url: db.url } });
    k = await signedIn(anonymous, 'tagger');
    const notes = { work: ['work', 'urgent'], home: ['home'], odd: [`it's "50%"`, 'work_'], none: [] as string[] };
    for (const [title, tags] of Object.entries(notes)) {
      const res = await k.request('POST', '/v1/notes', { body: { title, tags } });
      assert.is(res.status, 201, res.text);
      assert.equal(res.body.tags, tags);
      ids[title] = res.body.id;
    }
  });
  s.after(async () => { await anonymous?.stop(); await db.drop(); });

  const titles = async (query: string) => {
    const res = await k.request('GET', `/v1/notes?limit=100&${query}`);
    assert.is(res.status, 200, res.text);
    return (res.body.data as Array<{ title: string }>).map((n) => n.title).sort();
  };

  s('lists only the notes whose tags hold the value, exactly (no substring or LIKE match)', async () => {
    assert.equal(await titles('tag=work'), ['work']);
    assert.equal(await titles('tag=urgent'), ['work']);
    assert.equal(await titles('tag=hom'), []);
    assert.equal(
      await titles(`tag=${encodeURIComponent(`it's "50%"`)}`),
      ['odd'],
      'quotes and % are bound, not spliced',
    );
    assert.equal(await titles('tag=work_'), ['odd']);
    assert.equal(await titles(''), ['home', 'none', 'odd', 'work']);
  });

  s('combines with other filters, paging and ownership', async () => {
    await k.request('PATCH', `/v1/notes/${ids.home}`, { body: { pinned: true, tags: ['home', 'work'] } });
    assert.equal(await titles('tag=work&pinned=true'), ['home']);
    const page = await k.request('GET', '/v1/notes?tag=work&limit=1');
    assert.is(page.body.data.length, 1);
    assert.ok(page.body.pagination.nextCursor, page.text);
    const next = await k.request('GET', `/v1/notes?tag=work&limit=1&cursor=${page.body.pagination.nextCursor}`);
    assert.is(next.body.data.length, 1);
    assert.is.not(next.body.data[0].id, page.body.data[0].id);
    const other = await signedIn(anonymous, 'other-tagger');
    assert.is(
      (await other.request('GET', '/v1/notes?tag=work')).body.data.length,
      0,
      "another user's tags are not listed",
    );
  });

  s('a bad tag is a 400', async () => {
    assertError(await k.request('GET', `/v1/notes?tag=${'x'.repeat(51)}`), 400);
  });

  s.run();
}
