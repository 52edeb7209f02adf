import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel, assertError } from '../helpers/kernel.ts';
import { testDatabases } from '../helpers/databases.ts';
import { toAppError } from '../../kernel/http/render.ts';

const s = suite('http: unique-constraint violations are 409 CONFLICT on every driver');

for (const make of await testDatabases('concurrent registrations')) {
  s('20 concurrent registrations of one email: one 201, nineteen 409 (no 500)', async () => {
    const db = await make();
    if (db.driver === 'mongodb') { await db.drop(); return; }
    const lines: string[] = [];
    const k = await startKernel({ database: { driver: db.driver, url: db.url } }, { logLines: lines });
    try {
      const body = { name: 'Racer', email: `race-${Date.now()}@example.com`, password: 'Passw0rd!x' };
      const all = await Promise.all(Array.from({ length: 20 }, () => k.request('POST', '/v1/auth/register', { body })));
      const statuses = all.map((r) => r.status).sort();
      assert.equal(statuses, [201, ...Array(19).fill(409)], `${db.driver}: ${JSON.stringify(statuses)}`);
      for (const r of all.filter((r) => r.status === 409)) assertError(r, 409, 'CONFLICT');
      assert.equal(lines.filter((l) => /\$argon2|"level":50/.test(l)), [], `${db.driver}: an error or a hash was logged`);
    } finally {
      await k.stop();
      await db.drop();
    }
  });
}

s('driver error shapes map to 409 without being "unexpected"', () => {
  const mongo = Object.assign(new Error('E11000 duplicate key error collection: x index: email_1 dup key'), {
    name: 'MongoServerError',
    code: 11000,
  });
  const pg = Object.assign(new Error('duplicate key value violates unique constraint "u_email"'), { code: '23505' });
  const libsql = Object.assign(new Error('SQLITE_CONSTRAINT_UNIQUE: UNIQUE constraint failed: t.email'), {
    code: 'SQLITE_CONSTRAINT_UNIQUE',
  });
  const orm = Object.assign(new Error('insert ... UNIQUE constraint failed'), {
    name: 'UniqueConstraintViolationException',
  });
  for (const err of [mongo, pg, libsql, orm, new Error('wrapped', { cause: pg })]) {
    const { error, unexpected } = toAppError(err);
    assert.is(error.status, 409, err.message);
    assert.is(error.code, 'CONFLICT');
    assert.is(unexpected, false);
  }
  assert.is(toAppError(new Error('boom')).error.status, 500);
});

s.run();
