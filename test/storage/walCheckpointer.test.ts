import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { MikroORM } from '@mikro-orm/core';
import { openOrm } from '../../kernel/storage/orm.ts';
import { WAL_AUTOCHECKPOINT_PAGES } from '../../kernel/storage/walCheckpointer.ts';

/** SQLite's WAL is copied into the database by a worker thread, not by a commit on the event loop. */
const s = suite('storage: SQLite WAL checkpoints in the background');
const file = join(tmpdir(), `wal-checkpointer-${process.pid}-${Date.now()}.db`);
let orm: MikroORM;
const sql = (q: string) =>
  (orm.em.getConnection() as unknown as { execute(q: string): Promise<Array<Record<string, unknown>>> }).execute(q);

s.before(async () => {
  const config = { driver: 'sqlite', url: `file:${file}`, debug: false, poolMax: 2, migrate: 'off' } as never;
  orm = await openOrm(config, [], pino({ level: 'silent' }));
});
s.after(async () => {
  await orm?.close(true);
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
});

s('commits below the connections\' own bound are checkpointed into the file by the worker', async () => {
  const [bound] = await sql('pragma wal_autocheckpoint');
  assert.is(Object.values(bound)[0], WAL_AUTOCHECKPOINT_PAGES, 'the commits\' own checkpoint is the bound only');
  await sql('create table wal_rows (id integer primary key, body text)');
  const before = statSync(file).size;
  // About 400 pages of WAL: far below the connections' bound, so only the worker copies them.
  for (let i = 0; i < 100; i++) await sql(`insert into wal_rows (body) values ('${'x'.repeat(16_000)}')`);
  const deadline = Date.now() + 10_000;
  while (statSync(file).size <= before + 100 * 16_000 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(statSync(file).size > before + 100 * 16_000, `the database file grew: ${statSync(file).size} bytes`);
  const [{ n }] = await sql('select count(*) as n from wal_rows');
  assert.is(Number(n), 100);
});

s.run();
