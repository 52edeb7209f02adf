import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withMongoLock, type LockCollection } from '../../kernel/storage/migrations.ts';

/**
 * The lock's logic against a stand-in that behaves like a MongoDB collection for the three
 * calls it makes (a held lock makes the upsert fail with 11000, as a unique `_id` does).
 * The real thing runs in migrationsConcurrent.test.ts when MONGO_URL is set.
 */
function fakeLocks() {
  const docs = new Map<string, { owner: string; expiresAt: Date }>();
  const collection: LockCollection = {
    async updateOne(filter: any, update: any, options?: any) {
      const doc = docs.get(filter._id);
      const matches =
        doc &&
        (filter.owner !== undefined
          ? doc.owner === filter.owner
          : filter.$or.some((c: any) =>
              c.owner !== undefined ? doc.owner === c.owner : doc.expiresAt < c.expiresAt.$lt,
            ));
      if (matches) { docs.set(filter._id, { ...doc, ...update.$set }); return { modifiedCount: 1, upsertedCount: 0 }; }
      if (!options?.upsert) return { modifiedCount: 0, upsertedCount: 0 };
      if (doc) throw Object.assign(new Error('E11000 duplicate key error'), { code: 11000 });
      docs.set(filter._id, { ...update.$set });
      return { modifiedCount: 0, upsertedCount: 1 };
    },
    async deleteOne(filter: any) {
      if (docs.get(filter._id)?.owner === filter.owner) docs.delete(filter._id);
    },
  };
  return { docs, collection };
}

const s = suite('migrations: the MongoDB lock document');

s('two holders take turns; the lock is gone afterwards', async () => {
  const { docs, collection } = fakeLocks();
  const log: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  const first = withMongoLock(collection, 'migrations', async () => {
    log.push('a in');
    await held;
    log.push('a out');
  });
  await new Promise((r) => setImmediate(r));
  const second = withMongoLock(collection, 'migrations', async () => { log.push('b in'); });
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(log, ['a in'], 'b waits while a holds the lock');
  release();
  await Promise.all([first, second]);
  assert.equal(log, ['a in', 'a out', 'b in']);
  assert.is(docs.size, 0);
});

s('an expired lease (a crashed holder) is taken over', async () => {
  const { docs, collection } = fakeLocks();
  docs.set('migrations', { owner: 'crashed', expiresAt: new Date(Date.now() - 1000) });
  let ran = false;
  await withMongoLock(collection, 'migrations', async () => { ran = true; });
  assert.ok(ran);
  assert.is(docs.size, 0);
});

s('a failing task still releases the lock', async () => {
  const { docs, collection } = fakeLocks();
  const failed = await withMongoLock(collection, 'migrations', async () => { throw new Error('index build failed'); })
    .then(() => 'no', (e) => (e as Error).message);
  assert.is(failed, 'index build failed');
  assert.is(docs.size, 0);
});

s.run();
