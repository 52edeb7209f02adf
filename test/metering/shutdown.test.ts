import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { freshPostgres } from '../helpers/databases.ts';
import { serviceUrl } from '../helpers/services.ts';
import { startMetering } from './helpers.ts';

const pgUrl = serviceUrl('DATABASE_URL', 'metering: request counts flushed at shutdown (postgresql)');

test('request counts still in memory are written when the kernel stops', async () => {
  if (!pgUrl) return;
  const db = await freshPostgres(pgUrl);
  try {
    // No periodic flush: only the shutdown writes them.
    const k = await startMetering({ database: { driver: 'postgresql', url: db.url } });
    const u = await k.asUser();
    for (let i = 0; i < 3; i++) assert.is((await u.get('/v1/usage/summary')).status, 200);
    const seen = () => (k.cradle.requestMeter.unflushed(u.id) as Array<{ tally: { total: number } }>)
      .reduce((n, t) => n + t.tally.total, 0);
    for (let i = 0; i < 200 && seen() < 3; i++) {
      await new Promise((r) => setImmediate(r));
    }
    await k.stop();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query('select total, operations from metering_request_stats where principal_id = $1',
      [u.id]);
    await client.end();
    assert.is(rows.length, 1);
    assert.is(Number(rows[0].total), 3);
    assert.equal(rows[0].operations, { 'metering.summary': 3 });
  } finally {
    await db.drop();
  }
});

test.run();
