import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../scripts/paths.ts';

const s = suite('cli: plan, config, migrate, and bad config');

function cli(args: string[], env: Record<string, string> = {}) {
  const started = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - started };
}

function deployment(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cli-')), 'd.yaml');
  writeFileSync(path, yaml);
  return path;
}

s('bad config exits non-zero quickly, one line per problem, no stack', () => {
  const r = cli([
    'serve',
    '--config',
    deployment(
      'adapters: { cache: { use: memcache } }\nserver: { port: nope }\ndatabase: { url: "${MISSING_DB_URL}" }\n',
    ),
  ]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /adapters\.cache\.use: unknown adapter "memcache" \(allowed: memory, redis\)/);
  assert.match(r.stderr, /server\.port: must be integer/);
  assert.match(r.stderr, /MISSING_DB_URL is not set/);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(r.ms < 5000, `took ${Math.round(r.ms)} ms`);
});

s('plan prints plugins, adapters and routes without touching a database', () => {
  const r = cli(['plan', '--config', deployment('database: { driver: postgresql, url: "postgresql://nobody@127.0.0.1:1/none" }\nadapters: { cache: { use: redis, url: "redis://127.0.0.1:1" } }\n')]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /cache: redis/);
  assert.match(r.stdout, /notes@1\.0\.0/);
  assert.match(r.stdout, /POST\s+\/v1\/notes\s+notes\.create/);
  assert.match(r.stdout, /GET\s+\/health\s+system\.health/);
  assert.match(r.stdout, /identity: \d+ routes \(--verbose lists them\)/);
  assert.not.match(r.stdout, /identity\.login/);
  assert.match(r.stdout, /events \(declared\):[^]*notes\.note\.created/);
  assert.match(r.stdout, /notes\.activity\s+<- notes\.note\.created \(idempotent\)/);
  assert.match(r.stdout, /oauth\.revoke-grants\s+<- identity\.user\.standing_changed/);
  assert.match(r.stdout, /notes:write\s+roles: user/);
  const verbose = cli(['plan', '--verbose']);
  assert.is(verbose.code, 0, verbose.stderr);
  assert.match(verbose.stdout, /POST\s+\/v1\/auth\/login\s+identity\.login/);
});

s('config prints the effective config with secrets redacted', () => {
  const r = cli(['config', '--config', deployment('database: { driver: postgresql, url: "postgresql://app:hunter2@db/x" }\n')]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /postgresql:\/\/app:\[redacted\]@db\/x/);
  assert.not.match(r.stdout, /hunter2/);
});

s('migrate status, up and down on SQLite', () => {
  const db = join(mkdtempSync(join(tmpdir(), 'mig-')), 'k.db');
  const env = { KERNEL_DATABASE__URL: `file:${db}`, KERNEL_LOG__LEVEL: 'silent' };
  assert.match(cli(['migrate', 'status'], env).stdout, /pending\s+notes\/0001_create_notes/);
  const up = cli(['migrate', 'up'], env);
  assert.match(up.stdout, /applied notes\/0001_create_notes\napplied notes\/0002_create_activity/);
  assert.match(cli(['migrate', 'up'], env).stdout, /nothing to apply/);
  assert.match(cli(['migrate', 'down', '--plugin', 'notes'], env).stdout, /reverted notes\/0004_note_tags/);
  const status = cli(['migrate', 'status'], env).stdout;
  assert.match(status, /applied\s+notes\/0003_note_owner/);
  assert.match(status, /pending\s+notes\/0004_note_tags/);
  const check = cli(['serve', '--config', deployment('database: { migrate: check }\nserver: { port: 0 }\n')], env);
  assert.is(check.code, 1);
  assert.match(check.stderr, /migration notes\/0004_note_tags is pending/);
  rmSync(db, { force: true });
});

s('migrate create: nothing to write when a plugin agrees; an unknown plugin is exit 2', () => {
  const ok = cli(['migrate', 'create', '--plugin', 'notes']);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /notes: entities and migrations agree; nothing to write/);
  const bad = cli(['migrate', 'create', '--plugin', 'nope']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /one of: .*notes/);
});

s('migrate --plugin: status filters by it; an unknown name is an error naming the known ones', () => {
  const db = join(mkdtempSync(join(tmpdir(), 'mig-')), 'k.db');
  const env = { KERNEL_DATABASE__URL: `file:${db}`, KERNEL_LOG__LEVEL: 'silent' };
  const status = cli(['migrate', 'status', '--plugin', 'notes'], env);
  assert.is(status.code, 0, status.stderr);
  assert.match(status.stdout, /pending\s+notes\/0001_create_notes/);
  assert.not.match(status.stdout, /identity\//, 'other plugins are left out');
  assert.ok(cli(['migrate', 'up'], env).code === 0);
  for (const sub of ['down', 'status', 'up']) {
    const typo = cli(['migrate', sub, '--plugin', 'notez'], env);
    assert.is(typo.code, 1, `migrate ${sub} --plugin notez`);
    assert.match(typo.stderr, /unknown plugin "notez".*known: kernel, .*notes/);
    assert.not.match(typo.stdout, /nothing to revert|reverted/);
  }
  assert.match(cli(['migrate', 'status'], env).stdout, /applied\s+notes\/0002_create_activity/, 'the typo reverted nothing');
  rmSync(db, { force: true });
});

s('migrate status and plan say which database they read, with the password redacted', () => {
  const db = join(mkdtempSync(join(tmpdir(), 'mig-')), 'k.db');
  const status = cli(['migrate', 'status'], { KERNEL_DATABASE__URL: `file:${db}`, KERNEL_LOG__LEVEL: 'silent' });
  assert.ok(status.stdout.startsWith(`database: sqlite file:${db}\n`), status.stdout);
  const plan = cli(['plan', '--config', deployment('database: { driver: postgresql, url: "postgresql://app:hunter2@db.internal:5432/prod" }\n')]);
  assert.match(plan.stdout, /database: postgresql postgresql:\/\/app:\[redacted\]@db\.internal:5432\/prod/);
  assert.not.match(plan.stdout, /hunter2/);
  rmSync(db, { force: true });
});

s('migrate: check reads only (no history table made) and its error names the --config to migrate', async () => {
  const db = join(mkdtempSync(join(tmpdir(), 'mig-')), 'k.db');
  const file = deployment(
    `database: { migrate: check, url: "file:${db}" }\nserver: { port: 0 }\nlog: { level: silent }\n`,
  );
  const check = cli(['serve', '--config', file]);
  assert.is(check.code, 1);
  assert.match(check.stderr, new RegExp(`run \`npm run cli -- migrate up --config ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\``));
  const { default: Database } = await import('libsql');
  const conn = new Database(db);
  const tables = conn.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>;
  conn.close();
  assert.equal(tables.map((t) => t.name), [], 'check created nothing');
  assert.is(cli(['migrate', 'up', '--config', file]).code, 0, 'the suggested command migrates that database');
  rmSync(db, { force: true });
});

s('users create-admin makes a super_admin who can sign in; a weak password is refused', () => {
  const db = join(mkdtempSync(join(tmpdir(), 'adm-')), 'k.db');
  const env = { KERNEL_DATABASE__URL: `file:${db}`, KERNEL_LOG__LEVEL: 'silent' };
  const weak = cli(['users', 'create-admin', '--email', 'boss@example.com', '--password', 'weak'], env);
  assert.is(weak.code, 1);
  assert.match(weak.stderr, /password|must contain/i);
  const ok = cli(['users', 'create-admin', '--email', 'boss@example.com', '--password', 'Boss#Passw0rd'], env);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /created super_admin boss@example\.com/);
  const again = cli(['users', 'create-admin', '--email', 'boss@example.com', '--password', 'Boss#Passw0rd'], env);
  assert.match(again.stdout, /promoted super_admin/);
  rmSync(db, { force: true });
});

s.run();
