#!/usr/bin/env node
// Smoke check of the services started by scripts/services/start.sh.
//
//   eval "$(scripts/services/start.sh)" && node scripts/services/smoke.mjs [kafka] [mongo] [orm]
//
// Kafka (kafkajs): create topic, produce, two consumers in one group + one in another,
// each group must see every message exactly once.
// Mongo (mongodb driver) and MikroORM (@mikro-orm/mongodb) against mongo-java-server:
// the operations the project relies on must pass; features mongo-java-server is known
// not to support (transactions, sessions with txn, change streams w/o oplog) are probed
// and reported as "unsupported" without failing the run.
// Prints one line per check; exits 1 if a required check failed.
import { randomUUID } from 'node:crypto';

const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const MONGO_URL = process.env.MONGO_URL ?? 'mongodb://127.0.0.1:27018/kernel_test';
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const only = new Set(process.argv.slice(2));
const want = (k) => only.size === 0 || only.has(k);

const results = [];
const record = (area, name, status, detail = '') => {
  results.push({ area, name, status, detail });
  console.log(`${status.padEnd(11)} ${area.padEnd(6)} ${name}${detail ? ` — ${detail}` : ''}`);
};
const msg = (e) =>
  (e && (e.codeName || e.code) ? `${e.codeName ?? ''}${e.code ? `(${e.code})` : ''}: ` : '') +
  (e?.message ?? String(e)).split('\n')[0];

// required: must work. probe: may legitimately fail on mongo-java-server.
async function check(area, name, fn, { probe = false } = {}) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    record(area, name, 'ok', `${detail ?? ''}${detail ? ', ' : ''}${Date.now() - t0} ms`);
    return true;
  } catch (e) {
    record(area, name, probe ? 'unsupported' : 'FAIL', msg(e));
    return false;
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const assert = (cond, text) => {
  if (!cond) throw new Error(`assertion failed: ${text}`);
};

// ---------------------------------------------------------------------------- kafka
async function kafkaSmoke() {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: 'smoke',
    brokers: KAFKA_BROKERS.split(','),
    logLevel: process.env.SMOKE_DEBUG ? logLevel.INFO : logLevel.NOTHING,
  });
  const topic = `smoke-${randomUUID()}`;
  const admin = kafka.admin();
  const N = 12;

  await check('kafka', 'admin connect + createTopics(3 partitions)', async () => {
    await admin.connect();
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    assert(created, 'topic created');
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    return `${md.topics[0].partitions.length} partitions`;
  });

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const seen = { A1: [], A2: [], B: [] };
  const assigned = { A1: [], A2: [], B: [] };
  const consumers = [];
  const groupA = `smoke-A-${randomUUID()}`;
  const groupB = `smoke-B-${randomUUID()}`;
  await check('kafka', 'consumer groups formed: A (2 members) split 3 partitions, B (1 member) owns all', async () => {
    for (const [name, groupId] of [['A1', groupA], ['A2', groupA], ['B', groupB]]) {
      // maxWaitTimeInMs: kafkajs heartbeats only between fetches, so a short long-poll makes
      // rebalances and disconnects fast (default 5000 ms)
      const c = kafka.consumer({
        groupId,
        sessionTimeout: 10000,
        heartbeatInterval: 500,
        rebalanceTimeout: 10000,
        maxWaitTimeInMs: 250,
      });
      consumers.push(c);
      c.on(c.events.GROUP_JOIN, (e) => {
        assigned[name] = e.payload.memberAssignment[topic] ?? [];
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ eachMessage: async ({ message }) => void seen[name].push(message.value.toString()) });
    }
    const deadline = Date.now() + 60000;
    const stable = () =>
      assigned.A1.length > 0 &&
      assigned.A2.length > 0 &&
      assigned.A1.length + assigned.A2.length === 3 &&
      assigned.B.length === 3;
    while (!stable()) {
      if (Date.now() > deadline) throw new Error(`timeout: assignments ${JSON.stringify(assigned)}`);
      await sleep(100);
    }
    return `A1=[${assigned.A1}] A2=[${assigned.A2}] B=[${assigned.B}]`;
  });

  await check('kafka', `produce ${N} keyed messages`, async () => {
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: N }, (_, i) => ({ key: `k${i}`, value: `m${i}` })),
    });
  });

  await check('kafka', 'each group receives every message exactly once', async () => {
    const deadline = Date.now() + 60000;
    while (seen.A1.length + seen.A2.length < N || seen.B.length < N) {
      if (Date.now() > deadline)
        throw new Error(`timeout: A1=${seen.A1.length} A2=${seen.A2.length} B=${seen.B.length}`);
      await sleep(50);
    }
    const got = Date.now();
    await sleep(2000); // give duplicates a chance to show up
    const a = [...seen.A1, ...seen.A2].sort();
    const b = [...seen.B].sort();
    const expected = Array.from({ length: N }, (_, i) => `m${i}`).sort();
    assert(JSON.stringify(a) === JSON.stringify(expected), `group A got exactly once: ${a}`);
    assert(JSON.stringify(b) === JSON.stringify(expected), `group B got exactly once: ${b}`);
    assert(seen.A1.length > 0 && seen.A2.length > 0, 'both members of group A consumed');
    return `A1=${seen.A1.length} A2=${seen.A2.length} B=${seen.B.length}, all delivered ${got - deadline + 60000} ms after send`;
  });

  await check('kafka', 'committed offsets for group A', async () => {
    // offsets are committed asynchronously by kafkajs; disconnect flushes them
    await Promise.all(consumers.map((c) => c.disconnect()));
    const offs = await admin.fetchOffsets({ groupId: groupA, topics: [topic] });
    const total = offs[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
    assert(total === N, `sum of committed offsets ${total} === ${N}`);
    return `sum=${total}`;
  });

  await check('kafka', 'auto topic creation on produce', async () => {
    const t = `smoke-auto-${randomUUID()}`;
    const p = kafka.producer({ allowAutoTopicCreation: true });
    await p.connect();
    await p.send({ topic: t, messages: [{ value: 'x' }] });
    await p.disconnect();
    const md = await admin.fetchTopicMetadata({ topics: [t] });
    return `${md.topics[0].partitions.length} partitions (num.partitions)`;
  });

  await check('kafka', 'transactional producer (idempotent, rf=1 txn log)', async () => {
    const p = kafka.producer({ transactionalId: `smoke-tx-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const tx = await p.transaction();
    await tx.send({ topic, messages: [{ value: 'tx' }] });
    await tx.commit();
    await p.disconnect();
  });

  await check('kafka', 'deleteTopics', async () => {
    await admin.deleteTopics({ topics: [topic] });
  });
  await producer.disconnect().catch(() => {});
  await admin.disconnect().catch(() => {});
}

// ---------------------------------------------------------------------------- mongo
async function mongoSmoke() {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 5000 });
  const colName = `smoke_${Date.now()}`;
  let col;
  await check('mongo', 'connect + ping + buildInfo', async () => {
    await client.connect();
    await client.db().command({ ping: 1 });
    const bi = await client.db().admin().command({ buildInfo: 1 });
    col = client.db().collection(colName);
    return `db=${client.db().databaseName} version=${bi.version}`;
  });
  await check('mongo', 'insertOne / insertMany', async () => {
    await col.insertOne({ sku: 'a', qty: 1, tags: ['x'], at: new Date() });
    await col.insertMany([{ sku: 'b', qty: 2 }, { sku: 'c', qty: 3, nested: { v: 1 } }]);
  });
  await check('mongo', 'find (filter, sort, limit, projection) / findOne / countDocuments', async () => {
    const docs = await col.find({ qty: { $gte: 2 } }, { projection: { sku: 1 } }).sort({ qty: -1 }).limit(5).toArray();
    assert(docs.map((d) => d.sku).join() === 'c,b', `got ${docs.map((d) => d.sku)}`);
    assert((await col.findOne({ 'nested.v': 1 }))?.sku === 'c', 'nested findOne');
    assert((await col.countDocuments({})) === 3, 'count 3');
  });
  await check('mongo', 'createIndex (unique) + listIndexes + duplicate key error', async () => {
    const name = await col.createIndex({ sku: 1 }, { unique: true });
    await col.createIndex({ qty: 1, sku: -1 });
    const idx = await col.listIndexes().toArray();
    let dup = false;
    try {
      await col.insertOne({ sku: 'a' });
    } catch (e) {
      dup = e.code === 11000;
    }
    assert(dup, 'duplicate insert must fail with E11000');
    return `${name}; indexes=${idx.map((i) => i.name).join(',')}`;
  });
  await check('mongo', 'updateOne($set,$inc) / findOneAndUpdate / upsert', async () => {
    await col.updateOne({ sku: 'a' }, { $set: { qty: 10 }, $inc: { v: 1 } });
    const r = await col.findOneAndUpdate({ sku: 'b' }, { $inc: { qty: 1 } }, { returnDocument: 'after' });
    assert(r?.qty === 3, `findOneAndUpdate returned ${JSON.stringify(r)}`);
    await col.updateOne({ sku: 'z' }, { $set: { qty: 0 } }, { upsert: true });
  });
  await check('mongo', 'aggregate ($match/$group/$sort)', async () => {
    const r = await col
      .aggregate([{ $match: { qty: { $gte: 0 } } }, { $group: { _id: null, total: { $sum: '$qty' } } }])
      .toArray();
    return `total=${r[0]?.total}`;
  });
  await check('mongo', 'bulkWrite', async () => {
    await col.bulkWrite([{ insertOne: { document: { sku: 'bw' } } }, { deleteOne: { filter: { sku: 'bw' } } }]);
  });
  await check('mongo', 'deleteMany + drop collection', async () => {
    const r = await col.deleteMany({});
    assert(r.deletedCount === 4, `deleted ${r.deletedCount}`);
    await col.drop();
  });
  await check('mongo', 'explicit session (no txn)', async () => {
    const s = client.startSession();
    try {
      await client.db().collection(`${colName}_s`).insertOne({ a: 1 }, { session: s });
    } finally {
      await s.endSession();
    }
  }, { probe: true });
  await check('mongo', 'multi-document transaction (withTransaction)', async () => {
    const s = client.startSession();
    try {
      await s.withTransaction(async () => {
        await client.db().collection(`${colName}_t`).insertOne({ a: 1 }, { session: s });
      });
    } finally {
      await s.endSession();
    }
  }, { probe: true });
  await check('mongo', 'change stream (watch) — needs start.sh with MONGO_OPLOG=1', async () => {
    const csCol = client.db().collection(`${colName}_cs`);
    const cs = csCol.watch();
    try {
      const next = cs.next();
      next.catch(() => {});
      await sleep(300);
      await csCol.insertOne({ a: 1 });
      const ev = await Promise.race([
        next,
        sleep(3000).then(() => Promise.reject(new Error('no change event within 3 s'))),
      ]);
      assert(ev.operationType === 'insert', `event ${ev.operationType}`);
    } finally {
      await cs.close();
      await csCol.drop().catch(() => {});
    }
  }, { probe: true });
  await check('mongo', 'dropDatabase', async () => {
    await client.db(`${client.db().databaseName}_smoke_drop`).collection('x').insertOne({ a: 1 });
    await client.db(`${client.db().databaseName}_smoke_drop`).dropDatabase();
  });
  await client.close();
}

// ---------------------------------------------------------------------------- mikro-orm
async function ormSmoke() {
  const { MikroORM, MongoDriver, EntitySchema } = await import('@mikro-orm/mongodb');
  const Item = new EntitySchema({
    name: 'SmokeItem',
    collection: 'smoke_items',
    properties: {
      _id: { type: 'ObjectId', primary: true },
      id: { type: 'string', serializedPrimaryKey: true },
      sku: { type: 'string', unique: true },
      qty: { type: 'number', index: true },
      createdAt: { type: 'Date', onCreate: () => new Date() },
    },
    indexes: [{ properties: ['qty', 'sku'] }],
  });
  const Owner = new EntitySchema({
    name: 'SmokeOwner',
    collection: 'smoke_owners',
    properties: {
      _id: { type: 'ObjectId', primary: true },
      id: { type: 'string', serializedPrimaryKey: true },
      name: { type: 'string' },
      item: { kind: 'm:1', entity: 'SmokeItem', nullable: true },
    },
  });
  let orm;
  const ok = await check(
    'orm',
    'MikroORM.init({ driver: MongoDriver, clientUrl, entities: [EntitySchema] })',
    async () => {
      orm = await MikroORM.init({
        driver: MongoDriver,
        clientUrl: MONGO_URL,
        entities: [Item, Owner],
        debug: false,
        allowGlobalContext: false,
      });
      return `connected=${await orm.isConnected()}`;
    },
  );
  if (!ok) return;
  const sg = orm.getSchemaGenerator();
  await check('orm', 'schema: dropSchema + createSchema (collections)', async () => {
    await sg.dropSchema();
    await sg.createSchema();
  });
  await check('orm', 'schema: ensureIndexes()', async () => {
    await sg.ensureIndexes();
    const idx = await orm.em.getConnection().getCollection('smoke_items').listIndexes().toArray();
    return `indexes=${idx.map((i) => i.name).join(',')}`;
  });
  await check('orm', 'em.fork().persistAndFlush / find / findOne / count', async () => {
    const em = orm.em.fork();
    const a = em.create(Item, { sku: 'a', qty: 1 });
    await em.persistAndFlush(a);
    await em.persistAndFlush([em.create(Item, { sku: 'b', qty: 2 }), em.create(Item, { sku: 'c', qty: 3 })]);
    const em2 = orm.em.fork();
    const found = await em2.find(Item, { qty: { $gte: 2 } }, { orderBy: { qty: 'desc' } });
    assert(found.map((f) => f.sku).join() === 'c,b', `find got ${found.map((f) => f.sku)}`);
    const one = await em2.findOneOrFail(Item, { id: a.id });
    assert(one.sku === 'a', 'findOne by id');
    assert((await em2.count(Item, {})) === 3, 'count');
    return `id=${a.id}`;
  });
  await check('orm', 'update via flush + findAndCount + pagination', async () => {
    const em = orm.em.fork();
    const a = await em.findOneOrFail(Item, { sku: 'a' });
    a.qty = 42;
    await em.flush();
    const [rows, total] = await orm.em.fork().findAndCount(Item, {}, { limit: 2, offset: 1, orderBy: { sku: 'asc' } });
    assert(total === 3 && rows.length === 2, `findAndCount ${rows.length}/${total}`);
    assert((await orm.em.fork().findOneOrFail(Item, { sku: 'a' })).qty === 42, 'updated');
  });
  await check('orm', 'unique violation -> UniqueConstraintViolationException', async () => {
    const em = orm.em.fork();
    try {
      await em.persistAndFlush(em.create(Item, { sku: 'a', qty: 0 }));
    } catch (e) {
      assert(e.constructor.name === 'UniqueConstraintViolationException', `got ${e.constructor.name}: ${e.message}`);
      return e.constructor.name;
    }
    throw new Error('no error on duplicate');
  });
  await check('orm', 'nativeUpdate / nativeDelete / em.remove+flush', async () => {
    const em = orm.em.fork();
    await em.nativeUpdate(Item, { sku: 'b' }, { qty: 20 });
    const c = await em.findOneOrFail(Item, { sku: 'c' });
    await em.removeAndFlush(c);
    const n = await em.nativeDelete(Item, { sku: 'b' });
    assert(n === 1, `nativeDelete ${n}`);
    assert((await orm.em.fork().count(Item)) === 1, 'one left');
  });
  await check('orm', 'em.aggregate', async () => {
    const r = await orm.em.fork().aggregate(Item, [{ $group: { _id: null, n: { $sum: 1 } } }]);
    return `n=${r[0]?.n}`;
  });
  await check('orm', 'm:1 reference + populate + $in + $re (like)', async () => {
    const em = orm.em.fork();
    const item = await em.findOneOrFail(Item, { sku: 'a' });
    em.create(Owner, { name: 'o1', item });
    em.create(Owner, { name: 'o2', item });
    await em.flush();
    const em2 = orm.em.fork();
    const owners = await em2.find(Owner, { name: { $in: ['o1', 'o2'] } }, { populate: ['item'] });
    assert(owners.length === 2 && owners.every((o) => o.item?.sku === 'a'), 'populated');
    const like = await em2.find(Owner, { name: { $re: '^o' } });
    assert(like.length === 2, `regex ${like.length}`);
    await em2.nativeDelete(Owner, {});
  });
  await check('orm', 'em.upsert / em.upsertMany', async () => {
    const em = orm.em.fork();
    await em.upsert(Item, { sku: 'u1', qty: 5 });
    await em.upsertMany(Item, [{ sku: 'u1', qty: 6 }, { sku: 'u2', qty: 7 }]);
    const u1 = await orm.em.fork().findOneOrFail(Item, { sku: 'u1' });
    assert(u1.qty === 6, `u1.qty=${u1.qty}`);
    await orm.em.fork().nativeDelete(Item, { sku: { $in: ['u1', 'u2'] } });
  });
  await check('orm', 'em.transactional (mongo session transaction)', async () => {
    await orm.em.fork().transactional(async (em) => {
      em.persist(em.create(Item, { sku: 'tx', qty: 1 }));
    });
    assert((await orm.em.fork().count(Item, { sku: 'tx' })) === 1, 'tx committed');
  }, { probe: true });
  await check('orm', 'implicitTransactions: true + flush', async () => {
    const orm2 = await MikroORM.init({
      driver: MongoDriver,
      clientUrl: MONGO_URL,
      entities: [Item, Owner],
      implicitTransactions: true,
    });
    try {
      const em = orm2.em.fork();
      await em.persistAndFlush(em.create(Item, { sku: 'itx', qty: 1 }));
    } finally {
      await orm2.close(true);
    }
  }, { probe: true });
  await check('orm', 'deleteMany (nativeDelete all) + dropSchema', async () => {
    await orm.em.fork().nativeDelete(Item, {});
    await sg.dropSchema();
  });
  await orm.close(true);
}

const t0 = Date.now();
if (want('kafka')) await kafkaSmoke();
if (want('mongo')) await mongoSmoke();
if (want('orm')) await ormSmoke();
const failed = results.filter((r) => r.status === 'FAIL');
const unsupported = results.filter((r) => r.status === 'unsupported');
console.log(
  `smoke: ${results.length - failed.length - unsupported.length} ok, ${failed.length} failed, ${unsupported.length} unsupported (probes) in ${Date.now() - t0} ms`,
);
process.exit(failed.length ? 1 : 0);
