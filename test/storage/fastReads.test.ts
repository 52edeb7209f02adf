import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel } from '../helpers/kernel.ts';
import { testDatabases } from '../helpers/databases.ts';
import { FastReadPath } from '../../kernel/storage/fastReads.ts';
import { unscoped } from '../../kernel/storage/ownership.ts';
import type { NoteRow } from '../../plugins/notes/entities.ts';

/** The kernel's prepared read path (ctx.db) on every driver: same rows, same JS types as MikroORM. */
for (const make of await testDatabases('storage: fast reads')) {
  const db = await make();
  const s = suite(`storage: fast reads on ${db.driver}`);
  let k: Awaited<ReturnType<typeof startKernel>>;
  let path: FastReadPath;
  const ids: string[] = [];
  s.before(async () => {
    k = await startKernel({ database: { driver: db.driver, url: db.url } });
    path = new FastReadPath(k.kernel.orm!, db.driver);
    const em = unscoped(k.kernel.orm!.em);
    for (let i = 0; i < 5; i++) {
      const note = em.create<NoteRow>('Note', {
        title: `fast ${i}`,
        body: `body ${i}`,
        pinned: i % 2 === 0,
      } as NoteRow);
      ids.push(note.id);
      await em.flush();
    }
  });
  s.after(async () => { await k?.stop(); await db.drop(); });

  s('findOne returns the row with its property names and JS types, or null', async () => {
    const reads = path.bind(undefined, () => ({ unscoped: true }));
    const row = await reads.findOne<NoteRow>('Note', { id: ids[0] });
    const managed = await unscoped(k.kernel.orm!.em).findOneOrFail<NoteRow>('Note', { id: ids[0] });
    assert.ok(row);
    assert.is(row!.id, ids[0]);
    assert.is(row!.title, 'fast 0');
    assert.is(row!.pinned, true);
    assert.instance(row!.createdAt, Date);
    assert.is(new Date(row!.createdAt).getTime(), new Date(managed.createdAt).getTime());
    assert.is(await reads.findOne('Note', { id: '00000000-0000-7000-8000-000000000000' }), null);
    assert.is((await reads.findOne<NoteRow>('Note', { id: ids[1], pinned: false }))?.title, 'fast 1');
    assert.is(await reads.findOne('Note', { id: ids[1], pinned: true }), null);
    assert.is((await reads.findOne<NoteRow>('Note', { id: ids[2], title: { $ne: 'other' } }))?.title, 'fast 2');
  });

  s('find orders, filters with operators and limits', async () => {
    const reads = path.bind(undefined, () => ({ unscoped: true }));
    const all = await reads.find<NoteRow>('Note', {}, { orderBy: { id: 'desc' }, limit: 10 });
    assert.equal(all.map((n) => n.id), [...ids].reverse());
    const older = await reads.find<NoteRow>('Note', { id: { $lt: ids[3] } }, { orderBy: { id: 'desc' }, limit: 2 });
    assert.equal(older.map((n) => n.id), [ids[2], ids[1]]);
    const pinned = await reads.find<NoteRow>('Note', { pinned: true }, { orderBy: { id: 'asc' } });
    assert.equal(pinned.map((n) => n.id), [ids[0], ids[2], ids[4]]);
  });

  s('findOne after find of the same shape reads its own row, not the find\'s (libsql reuses statements)', async () => {
    const reads = path.bind(undefined, () => ({ unscoped: true }));
    assert.is((await reads.find<NoteRow>('Note', { id: ids[3] }, { limit: 1 }))[0]?.id, ids[3]);
    assert.is(await reads.findOne('Note', { id: '00000000-0000-7000-8000-000000000001' }), null);
    assert.is((await reads.findOne<NoteRow>('Note', { id: ids[4] }))?.id, ids[4]);
    assert.equal((await reads.find<NoteRow>('Note', { id: ids[4] }, { limit: 1 })).map((n) => n.id), [ids[4]]);
  });

  s('one query shape is compiled once, whatever its values', async () => {
    const reads = path.bind(undefined, () => ({ unscoped: true }));
    const before = (path as unknown as { compiled: Map<string, unknown> }).compiled.size;
    const found = await Promise.all(ids.map((_, i) => reads.findOne<NoteRow>('Note', { title: `fast ${i}` })));
    assert.equal(found.map((n) => n?.id), ids);
    assert.is(
      (path as unknown as { compiled: Map<string, unknown> }).compiled.size,
      before + (db.driver === 'mongodb' ? 0 : 1),
    );
  });

  if (db.driver !== 'mongodb') {
    s("inside the request EntityManager's transaction, reads see its uncommitted writes", async () => {
      const em = unscoped(k.kernel.orm!.em);
      let seen: NoteRow | null = null;
      let id = '';
      await em.transactional(async (tem) => {
        const note = tem.create<NoteRow>('Note', { title: 'in trx', body: '', pinned: false } as NoteRow);
        id = note.id;
        await tem.flush();
        seen = await path.bind(() => tem).findOne<NoteRow>('Note', { id });
      });
      assert.is((seen as NoteRow | null)?.title, 'in trx');
      assert.is(
        (await path.bind(undefined, () => ({ unscoped: true })).findOne<NoteRow>('Note', { id }))?.title,
        'in trx',
        'committed',
      );
    });
  }
  s.run();
}
