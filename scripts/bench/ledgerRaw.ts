/**
 * The ledger bench's baseline: the same hold and capture with the raw driver and hand-written SQL (the fastest
 * honest way): one transaction each, the account row locked first (PostgreSQL `FOR UPDATE`; SQLite: libsql's
 * synchronous API runs one transaction at a time), the covering check, the hold row, the account update;
 * a capture charges free credits first and writes the entry. No idempotency lookups, no expiry sweeps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';

export interface LedgerTarget {
  /** One hold then its capture, for `user`. */
  holdAndCapture(user: string, i: number): Promise<void>;
  close(): Promise<void>;
}

const DDL = [
  `create table accounts (user_id varchar(36) primary key, free_micros bigint not null,
    purchased_micros bigint not null, held_micros bigint not null)`,
  `create table holds (id varchar(36) primary key, user_id varchar(36) not null, amount_micros bigint not null,
    status varchar(10) not null, idempotency_key varchar(200) not null, unique (user_id, idempotency_key))`,
  `create table entries (id varchar(36) primary key, user_id varchar(36) not null, amount_micros bigint not null,
    balance_after_micros bigint not null, hold_id varchar(36))`,
];
const HOLD = 1_000_000;
const CHARGE = 14_300;

interface Stmt { get(p: unknown[]): Record<string, unknown> | undefined; run(p: unknown[]): unknown }
interface Db { prepare(sql: string): Stmt; exec(sql: string): void; close(): void }

export function openRawSqliteLedger(users: string[], balanceMicros: number): LedgerTarget {
  const Database = createRequire(import.meta.url)('libsql') as new (file: string) => Db;
  const dir = mkdtempSync(join(tmpdir(), 'bench-ledger-raw-'));
  const db = new Database(join(dir, 'raw.db'));
  db.exec('pragma journal_mode = WAL');
  db.exec('pragma synchronous = NORMAL');
  for (const ddl of DDL) db.exec(ddl);
  const add = db.prepare('insert into accounts values (?, 0, ?, 0)');
  for (const u of users) add.run([u, balanceMicros]);
  const account = db.prepare('select free_micros, purchased_micros, held_micros from accounts where user_id = ?');
  const reserve = db.prepare('update accounts set held_micros = held_micros + ? where user_id = ?');
  const insertHold = db.prepare("insert into holds values (?, ?, ?, 'held', ?)");
  const hold = db.prepare('select user_id, amount_micros, status from holds where id = ?');
  const settle = db.prepare("update holds set status = 'captured' where id = ?");
  const charge = db.prepare(
    'update accounts set held_micros = held_micros - ?, free_micros = ?, purchased_micros = ? where user_id = ?');
  const entry = db.prepare('insert into entries values (?, ?, ?, ?, ?)');
  const tx = (work: () => void) => {
    db.exec('begin immediate');
    try {
      work();
      db.exec('commit');
    } catch (e) {
      db.exec('rollback');
      throw e;
    }
  };
  return {
    async holdAndCapture(user, i) {
      const id = uuidv7();
      tx(() => {
        const a = account.get([user])!;
        if (Number(a.free_micros) + Number(a.purchased_micros) - Number(a.held_micros) < HOLD) throw new Error('402');
        reserve.run([HOLD, user]);
        insertHold.run([id, user, HOLD, `h${i}`]);
      });
      tx(() => {
        const h = hold.get([id])!;
        if (h.status !== 'held') throw new Error('409');
        const a = account.get([user])!;
        const free = Number(a.free_micros);
        const fromFree = Math.min(CHARGE, free);
        const purchased = Number(a.purchased_micros) - (CHARGE - fromFree);
        charge.run([HOLD, free - fromFree, purchased, user]);
        settle.run([id]);
        entry.run([uuidv7(), user, -CHARGE, free - fromFree + purchased, id]);
      });
    },
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function openRawPgLedger(url: string, users: string[], balanceMicros: number): Promise<LedgerTarget> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // The bench drops its database with `force` at the end: a client still closing gets terminated then.
  pool.on('error', () => {});
  for (const ddl of DDL) await pool.query(ddl);
  for (const u of users) await pool.query('insert into accounts values ($1, 0, $2, 0)', [u, balanceMicros]);
  const tx = async (work: (c: pg.PoolClient) => Promise<void>) => {
    const c = await pool.connect();
    try {
      await c.query('begin');
      await work(c);
      await c.query('commit');
    } catch (e) {
      await c.query('rollback');
      throw e;
    } finally {
      c.release();
    }
  };
  const q = (c: pg.PoolClient, name: string, text: string, values: unknown[]) =>
    c.query({ name, text, values }).then((r) => r.rows as Array<Record<string, unknown>>);
  const lock = 'select free_micros, purchased_micros, held_micros from accounts where user_id = $1 for update';
  return {
    async holdAndCapture(user, i) {
      const id = uuidv7();
      await tx(async (c) => {
        const [a] = await q(c, 'lock', lock, [user]);
        if (Number(a.free_micros) + Number(a.purchased_micros) - Number(a.held_micros) < HOLD) throw new Error('402');
        await q(c, 'reserve', 'update accounts set held_micros = held_micros + $1 where user_id = $2', [HOLD, user]);
        await q(c, 'hold', "insert into holds values ($1, $2, $3, 'held', $4)", [id, user, HOLD, `h${i}`]);
      });
      await tx(async (c) => {
        const [h] = await q(c, 'getHold', 'select status from holds where id = $1 for update', [id]);
        if (h.status !== 'held') throw new Error('409');
        const [a] = await q(c, 'lock', lock, [user]);
        const free = Number(a.free_micros);
        const fromFree = Math.min(CHARGE, free);
        const purchased = Number(a.purchased_micros) - (CHARGE - fromFree);
        await q(
          c,
          'charge',
          'update accounts set held_micros = held_micros - $1, free_micros = $2, purchased_micros = $3' +
            ' where user_id = $4',
          [HOLD, free - fromFree, purchased, user],
        );
        await q(c, 'settle', "update holds set status = 'captured' where id = $1", [id]);
        await q(c, 'entry', 'insert into entries values ($1, $2, $3, $4, $5)',
          [uuidv7(), user, -CHARGE, free - fromFree + purchased, id]);
      });
    },
    async close() {
      await pool.end();
    },
  };
}

export const LEDGER_HOLD_MICROS = HOLD;
export const LEDGER_CHARGE_MICROS = CHARGE;
