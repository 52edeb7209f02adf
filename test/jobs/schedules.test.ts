/** Schedule slots: `every` aligned to the epoch, five-field UTC cron, and clear errors for bad input. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { everyMs, parseCron, Scheduler, slotOf } from '../../kernel/jobs/schedules.ts';

const test = suite('job schedules');

test('every: units and epoch-aligned slots', () => {
  assert.is(everyMs('30s'), 30_000);
  assert.is(everyMs('5m'), 300_000);
  assert.is(everyMs(1500), 1500);
  assert.throws(() => everyMs('soon'), /every "soon"/);
  const t = Date.UTC(2026, 0, 1, 10, 7, 31);
  assert.is(slotOf({ name: 'x', every: '5m', job: 'a.b' }, t), Date.UTC(2026, 0, 1, 10, 5));
});

test('cron: lists, ranges, steps; a slot only in a matching minute', () => {
  const m = parseCron('*/15 9-17 * * 1-5');
  assert.ok(m(new Date(Date.UTC(2026, 0, 5, 9, 30)))); // a Monday
  assert.not.ok(m(new Date(Date.UTC(2026, 0, 5, 9, 31))));
  assert.not.ok(m(new Date(Date.UTC(2026, 0, 4, 9, 30)))); // a Sunday
  assert.ok(parseCron('0 3 1,15 * *')(new Date(Date.UTC(2026, 1, 15, 3, 0))));
  const s = { name: 'n', cron: '0 3 * * *', job: 'a.b' };
  assert.is(slotOf(s, Date.UTC(2026, 0, 1, 3, 0, 40)), Date.UTC(2026, 0, 1, 3, 0));
  assert.is(slotOf(s, Date.UTC(2026, 0, 1, 3, 1)), null);
  assert.throws(() => parseCron('* * *'), /five fields/);
  assert.throws(() => parseCron('61 * * * *'), /not valid/);
});

test('a scheduler enqueues each slot once with its dedup key', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 10));
  const keys: string[] = [];
  const s = new Scheduler([{ plugin: 'p', schedule: { name: 'often', every: '1m', job: 'p.tick' } }],
    async (_type, _params, key) => { keys.push(key); }, clock, pino({ level: 'silent' }));
  await s.tick();
  await s.tick();
  clock.advance(60_000);
  await s.tick();
  assert.equal(keys, ['schedule:p.often:2026-01-01T00:00:00.000Z', 'schedule:p.often:2026-01-01T00:01:00.000Z']);
  assert.throws(() => new Scheduler([{ plugin: 'p', schedule: { name: 'bad', job: 'p.tick' } }],
    async () => {}, clock, pino({ level: 'silent' })), /exactly one of every or cron/);
});

test.run();
