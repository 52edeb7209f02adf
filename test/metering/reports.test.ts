import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startMetering, type MeteringKit } from './helpers.ts';
import { dayOf, DAY_MS } from '../../plugins/metering/time.ts';

const test = suite('metering: GET /usage, /usage/summary, /admin/usage');
let k: MeteringKit;

test.before(async () => { k = await startMetering(); });
test.after(async () => { await k?.stop(); });

async function record(events: Array<Record<string, unknown>>) {
  const em = k.kernel.orm!.em.fork();
  for (const e of events) k.cradle.metering.record(em, e as never);
  await em.flush();
}

const now = Date.now();
const today = dayOf(now);
const yesterday = dayOf(now - DAY_MS);

test('my usage: paged, filtered by subject and date range; nobody else\'s', async () => {
  const alice = await k.asUser('alice');
  const bob = await k.asUser('bob');
  const base = { kind: 'tool', tokensIn: 10, tokensOut: 5, costMicros: 14_300 };
  await record([
    ...Array.from({ length: 5 }, (_, i) => ({ ...base, userId: alice.id, subject: 'summarise', reference: `a${i}` })),
    { ...base, userId: alice.id, subject: 'translate', occurredAt: new Date(now - DAY_MS) },
    { ...base, userId: alice.id, subject: 'translate', status: 'failed', tokensIn: 0, tokensOut: 0, costMicros: 0 },
    { ...base, userId: bob.id, subject: 'summarise' },
  ]);
  const page1 = await alice.get('/v1/usage?limit=4');
  assert.is(page1.status, 200, page1.text);
  assert.is(page1.body.data.length, 4);
  const page2 = await alice.get(`/v1/usage?limit=4&cursor=${page1.body.pagination.nextCursor}`);
  assert.is(page2.body.data.length, 3);
  assert.ok([...page1.body.data, ...page2.body.data].every((r: { userId: string }) => r.userId === alice.id));
  const bySubject = await alice.get('/v1/usage?subject=translate');
  assert.is(bySubject.body.data.length, 2);
  const todayOnly = await alice.get(`/v1/usage?from=${today}&to=${today}&subject=translate`);
  assert.is(todayOnly.body.data.length, 1);
  assert.is(todayOnly.body.data[0].status, 'failed');
  const bad = await alice.get('/v1/usage?from=yesterday-ish');
  assert.is(bad.status, 400);
});

test('summary: totals, per subject and per day, exact cost in microcents', async () => {
  const carol = await k.asUser('carol');
  const base = { userId: carol.id, kind: 'tool', tokensIn: 100, tokensOut: 50, costMicros: 14_300 };
  await record([
    { ...base, subject: 'summarise' }, { ...base, subject: 'summarise' },
    { ...base, subject: 'translate', occurredAt: new Date(now - DAY_MS) },
    { ...base, subject: 'translate', status: 'failed', tokensIn: 0, tokensOut: 0, costMicros: 0 },
  ]);
  const res = await carol.get(`/v1/usage/summary?from=${yesterday}&to=${today}`);
  assert.is(res.status, 200, res.text);
  assert.equal(res.body.totals, {
    tokens: 450, tokensIn: 300, tokensOut: 150, invocations: 4, failures: 1, costMicros: 42_900, costCents: 0,
  });
  const summarise = res.body.bySubject.find((s: { subject: string }) => s.subject === 'summarise');
  assert.is(summarise.invocations, 2);
  assert.is(summarise.costMicros, 28_600);
  assert.equal(res.body.byDay.map((d: { day: string; invocations: number }) => [d.day, d.invocations]),
    [[yesterday, 1], [today, 3]]);
  const reversed = await carol.get(`/v1/usage/summary?from=${today}&to=${yesterday}`);
  assert.is(reversed.status, 400);
});

test('admin usage: platform-wide with top users; refused to a user', async () => {
  const dave = await k.asUser('dave');
  await record([{ userId: dave.id, kind: 'chat', subject: 'gpt-big', tokensIn: 900_000, tokensOut: 1, costMicros: 5 }]);
  const admin = await k.asAdmin();
  const res = await admin.get('/v1/admin/usage?top=2');
  assert.is(res.status, 200, res.text);
  assert.is(res.body.topUsers.length, 2);
  assert.is(res.body.topUsers[0].userId, dave.id);
  assert.ok(res.body.totals.invocations >= 13);
  assert.ok(res.body.bySubject.some((s: { subject: string }) => s.subject === 'gpt-big'));
  const refused = await dave.get('/v1/admin/usage');
  assert.is(refused.status, 403);
});

test.run();
