/**
 * The baselines' storage, by the fastest honest means: the raw driver (`libsql` or `pg`),
 * prepared statements made once (libsql) or named (pg: prepared once per connection), rows
 * turned into the same JSON views the kernel answers. Tables of its own (users, notes with
 * an owner), in a temp SQLite file (WAL, synchronous NORMAL, as the kernel) or a fresh
 * PostgreSQL database dropped at close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { BENCH_USER } from './shared.ts';

export type BenchDriver = 'sqlite' | 'postgresql';

export interface NoteView {
  id: string;
  title: string;
  body: string;
  pinned: boolean;
  tags: string[];
  createdAt: string;
  updatedAt: string;
}
export interface UserView {
  id: string; email: string; name: string; role: string; status: string; tier: string;
  emailVerified: boolean; mfaEnabled: boolean; createdAt: string; updatedAt: string;
}
export interface NoteInput { title: string; body: string; pinned: boolean; tags?: string[] }

export interface RawStore {
  driver: BenchDriver;
  userId: string;
  /** A note of the bench user's, for GET /v1/notes/{id}. */
  noteId: string;
  user(id: string): Promise<UserView | undefined>;
  note(ownerId: string, id: string): Promise<NoteView | undefined>;
  /** Newest first; one more than `limit` tells whether a next page exists. */
  notes(ownerId: string, limit: number): Promise<{ data: NoteView[]; nextCursor: string | null }>;
  insertNote(ownerId: string, input: NoteInput): Promise<NoteView>;
  close(): Promise<void>;
}

const SEED_NOTES = 50;
const iso = (v: unknown) => new Date(v as string | number | Date).toISOString();
type Row = Record<string, unknown>;

const noteView = (r: Row): NoteView => ({
  id: r.id as string,
  title: r.title as string,
  body: r.body as string,
  pinned: Boolean(r.pinned),
  // JSON text on SQLite, jsonb (already parsed by pg) on PostgreSQL, as the kernel stores `p.array`.
  tags: (typeof r.tags === 'string' ? JSON.parse(r.tags) : r.tags) as string[],
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});
const userView = (r: Row): UserView => ({
  id: r.id as string,
  email: r.email as string,
  name: r.name as string,
  role: r.role as string,
  status: r.status as string,
  tier: r.tier as string,
  emailVerified: Boolean(r.email_verified),
  mfaEnabled: Boolean(r.mfa_enabled),
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

const cursor = (id: string) => Buffer.from(id).toString('base64url');

const DDL = [
  `create table bench_users (id varchar(36) primary key, email varchar(320) not null unique, name varchar(200) not null,
    role varchar(50) not null, status varchar(20) not null, tier varchar(50) not null, email_verified boolean not null,
    mfa_enabled boolean not null, created_at %TS% not null, updated_at %TS% not null)`,
  `create table bench_notes (id varchar(36) primary key, owner_id varchar(36) not null, title varchar(200) not null,
    body text not null, pinned boolean not null, tags %JSON% not null, created_at %TS% not null,
    updated_at %TS% not null)`,
  'create index bench_notes_owner_id on bench_notes (owner_id, id)',
];

const SQL = {
  user: `select * from bench_users where id = $1 and status <> 'deleted'`,
  note: 'select id, title, body, pinned, tags, created_at, updated_at from bench_notes where id = $1 and owner_id = $2',
  notes:
    'select id, title, body, pinned, tags, created_at, updated_at from bench_notes where owner_id = $1 order by id desc limit $2',
  insert:
    'insert into bench_notes (id, owner_id, title, body, pinned, tags, created_at, updated_at)'
    + ' values ($1, $2, $3, $4, $5, $6, $7, $8)',
};

function seedRows() {
  const userId = uuidv7();
  const now = Date.now();
  const notes = Array.from({ length: SEED_NOTES }, (_, i) => ({
    id: uuidv7(),
    title: `Note ${i}`,
    body: `Body of note ${i}`,
    pinned: i % 5 === 0,
  }));
  return { userId, now, notes };
}

interface LibsqlStatement {
  get(params: unknown[]): Row | undefined;
  all(params: unknown[]): Row[];
  run(params: unknown[]): unknown;
}
interface LibsqlDatabase { prepare(sql: string): LibsqlStatement; exec(sql: string): void; close(): void }

export async function openSqliteStore(): Promise<RawStore> {
  const Database = createRequire(import.meta.url)('libsql') as new (file: string) => LibsqlDatabase;
  const dir = mkdtempSync(join(tmpdir(), 'bench-raw-'));
  const db = new Database(join(dir, 'raw.db'));
  db.exec('pragma journal_mode = WAL');
  db.exec('pragma synchronous = NORMAL');
  for (const ddl of DDL) db.exec(ddl.replace(/%TS%/g, 'integer').replace(/%JSON%/g, 'text'));
  const q = (sql: string) => db.prepare(sql.replace(/\$\d+/g, '?'));
  const user = q(SQL.user);
  const note = q(SQL.note);
  const notes = q(SQL.notes);
  const insert = q(SQL.insert);
  const seed = seedRows();
  db.prepare('insert into bench_users values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run([seed.userId, BENCH_USER.email, BENCH_USER.name, 'user', 'active', 'free', 0, 0, seed.now, seed.now]);
  for (const n of seed.notes)
    insert.run([n.id, seed.userId, n.title, n.body, n.pinned ? 1 : 0, '[]', seed.now, seed.now]);
  return {
    driver: 'sqlite',
    userId: seed.userId,
    noteId: seed.notes[SEED_NOTES - 1].id,
    async user(id) { const r = user.get([id]); return r ? userView(r) : undefined; },
    async note(ownerId, id) { const r = note.get([id, ownerId]); return r ? noteView(r) : undefined; },
    async notes(ownerId, limit) {
      const rows = notes.all([ownerId, limit + 1]);
      const data = rows.slice(0, limit).map(noteView);
      return { data, nextCursor: rows.length > limit ? cursor(data[data.length - 1].id) : null };
    },
    async insertNote(ownerId, input) {
      const id = uuidv7();
      const now = Date.now();
      const tags = input.tags ?? [];
      insert.run([id, ownerId, input.title, input.body, input.pinned ? 1 : 0, JSON.stringify(tags), now, now]);
      return noteView({
        id,
        title: input.title,
        body: input.body,
        pinned: input.pinned,
        tags,
        created_at: now,
        updated_at: now,
      });
    },
    async close() { db.close(); rmSync(dir, { recursive: true, force: true }); },
  };
}

/** A fresh database on the server of `baseUrl`, a pool as large as the kernel's (database.poolMax 10). */
export async function openPostgresStore(baseUrl: string): Promise<RawStore> {
  const name = `bench_raw_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 10 });
  for (const ddl of DDL) await pool.query(ddl.replace(/%TS%/g, 'timestamptz').replace(/%JSON%/g, 'jsonb'));
  const seed = seedRows();
  const now = new Date(seed.now);
  await pool.query('insert into bench_users values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
    [seed.userId, BENCH_USER.email, BENCH_USER.name, 'user', 'active', 'free', false, false, now, now]);
  for (const n of seed.notes)
    await pool.query(SQL.insert, [n.id, seed.userId, n.title, n.body, n.pinned, '[]', now, now]);
  const run = async (key: keyof typeof SQL, values: unknown[]) =>
    (await pool.query({ name: `bench_${key}`, text: SQL[key], values })).rows as Row[];
  return {
    driver: 'postgresql',
    userId: seed.userId,
    noteId: seed.notes[SEED_NOTES - 1].id,
    async user(id) { const [r] = await run('user', [id]); return r ? userView(r) : undefined; },
    async note(ownerId, id) { const [r] = await run('note', [id, ownerId]); return r ? noteView(r) : undefined; },
    async notes(ownerId, limit) {
      const rows = await run('notes', [ownerId, limit + 1]);
      const data = rows.slice(0, limit).map(noteView);
      return { data, nextCursor: rows.length > limit ? cursor(data[data.length - 1].id) : null };
    },
    async insertNote(ownerId, input) {
      const id = uuidv7();
      const at = new Date();
      const tags = input.tags ?? [];
      await run('insert', [id, ownerId, input.title, input.body, input.pinned, JSON.stringify(tags), at, at]);
      return noteView({
        id,
        title: input.title,
        body: input.body,
        pinned: input.pinned,
        tags,
        created_at: at,
        updated_at: at,
      });
    },
    async close() {
      await pool.end();
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
