import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startMetering, type MeteringKit } from './helpers.ts';

type Row = { reference: string; userId: string };
const usage = (userId: string) => k.kernel.orm!.em.fork().find<Row>('MeteringUsage', { userId });
const test = suite('metering: record() in the caller\'s unit of work');
let k: MeteringKit;

test.before(async () => { k = await startMetering(); });
test.after(async () => { await k?.stop(); });

const event = (userId: string, n = 1) => ({
  userId, kind: 'tool', subject: 'summarise', tokensIn: 10 * n, tokensOut: 5 * n, costMicros: 14_300 * n,
});

test('a rolled-back caller leaves no row; a committed one has it', async () => {
  const user = await k.asUser();
  const em = k.kernel.orm!.em.fork();
  await em.transactional(async (tx) => {
    k.cradle.metering.record(tx, { ...event(user.id), reference: 'kept' });
  });
  await em.fork().transactional(async (tx) => {
    k.cradle.metering.record(tx, { ...event(user.id), reference: 'lost' });
    throw new Error('the caller fails after recording');
  }).catch(() => {});
  const rows = await usage(user.id);
  assert.equal(rows.map((r) => r.reference), ['kept']);
});

test('concurrent callers: every committed record is there, none of the rolled back', async () => {
  const user = await k.asUser();
  const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => k.kernel.orm!.em.fork()
    .transactional(async (tx) => {
      k.cradle.metering.record(tx, { ...event(user.id), reference: `r${i}` });
      if (i % 3 === 0) throw new Error('rolled back');
    }).then(() => true, () => false)));
  const committed = outcomes.map((ok, i) => (ok ? `r${i}` : null)).filter(Boolean).sort();
  const rows = await usage(user.id);
  assert.is(committed.length, 40);
  assert.equal(rows.map((r) => r.reference).sort(), committed);
});

test('a malformed event is refused before anything is staged', () => {
  const em = k.kernel.orm!.em.fork();
  assert.throws(() => k.cradle.metering.record(em, { ...event('u1'), tokensIn: -1 }), /tokensIn/);
  assert.throws(() => k.cradle.metering.record(em, { ...event('u1'), costMicros: 1.5 }), /costMicros/);
  assert.is(em.getUnitOfWork().getPersistStack().size, 0);
});

test.run();
