/**
 * Two kernel processes on one PostgreSQL (database queue), then on PostgreSQL and Redis (BullMQ queue):
 * 1,000 jobs each completed once; a cancel from the
 * instance not running a job reaches its handler within a second; a SIGKILLed worker's job is
 * re-run by the other within two heartbeats, its finished step not run again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { Redis } from 'ioredis';
import { dropRedisPrefix } from './redisKeys.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { waitFor } from './helpers.ts';

const pgUrl = serviceUrl('DATABASE_URL', 'jobs on two processes (PostgreSQL)');
const redisUrl = pgUrl && serviceUrl('REDIS_URL', 'jobs on two processes (PostgreSQL and Redis)');
const HEARTBEAT_MS = 1000;

interface Proc { child: ChildProcess; pid: number; lines: string[]; send(line: string): void;
  exited: Promise<number | null> }

async function startWorker(dbUrl: string, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'test/fixtures/jobs/worker.ts')], {
    cwd: ROOT, env: { PATH: process.env.PATH!, JOBS_DB_URL: dbUrl, JOBS_HEARTBEAT_MS: String(HEARTBEAT_MS), ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let rest = '';
  child.stdout!.on('data', (c: Buffer) => {
    const parts = (rest + c.toString()).split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = await waitFor('worker ready', async () => lines.find((l) => l.startsWith('ready ')), 60_000);
  return { child, pid: Number(ready.split(' ')[1]), lines, send: (l) => child.stdin!.write(`${l}\n`), exited };
}

const find = (p: Proc, prefix: string) => p.lines.find((l) => l.startsWith(prefix));

function twoProcesses(label: string, env: Record<string, string>, cleanup: () => Promise<void> = async () => {},
  ranWhere?: () => Promise<void>) {
  const s = suite(`jobs: two processes on ${label}`);
  let db: TestDatabase;
  let a: Proc;
  let b: Proc;
  s.before(async () => {
    db = await freshPostgres(pgUrl!);
    [a, b] = await Promise.all([startWorker(db.url, env), startWorker(db.url, env)]);
  });
  s.after(async () => {
    for (const p of [a, b]) if (p && p.child.exitCode === null) p.child.kill('SIGTERM');
    await Promise.all([a?.exited, b?.exited]);
    await db?.drop();
    await cleanup();
  });

  s('1,000 jobs: each completed exactly once, both processes working', async () => {
    a.send('enqueue jx.noop 1000');
    const line = await waitFor('enqueued', async () => find(a, 'enqueued jx.noop'), 60_000);
    const ids = line.split(' ')[2].split(',');
    assert.is(ids.length, 1000);
    const ran = () => [...a.lines, ...b.lines].filter((l) => l.startsWith('ran ')).map((l) => l.slice(4));
    await waitFor('all ran', async () => (ran().length >= 1000 ? true : undefined), 60_000);
    const counts = new Map<string, number>();
    for (const id of ran()) counts.set(id, (counts.get(id) ?? 0) + 1);
    assert.is(counts.size, 1000);
    assert.ok([...counts.values()].every((n) => n === 1), 'no job ran twice');
    assert.ok(ids.every((id) => counts.has(id)));
    const onA = a.lines.filter((l) => l.startsWith('ran ')).length;
    assert.ok(onA > 0 && onA < 1000, `both processes worked (A ran ${onA})`);
    await ranWhere?.();
  });

  s('a cancel from the other process reaches the handler within a second', async () => {
    a.send('enqueue jx.hold 1');
    const id = (await waitFor('enqueued', async () => find(a, 'enqueued jx.hold'), 10_000)).split(' ')[2];
    const holder = await waitFor('held', async () => (find(a, `holding ${id}`) ? a : find(b, `holding ${id}`)
      ? b : undefined), 10_000);
    const other = holder === a ? b : a;
    other.send(`cancel ${id}`);
    const sent = Number((await waitFor('cancel sent', async () => find(other, `cancelled ${id}`))).split(' ')[2]);
    const seen = Number((await waitFor('aborted', async () => find(holder, `aborted ${id}`), 5000)).split(' ')[2]);
    assert.ok(seen - sent < 1000, `the handler saw the cancel after ${seen - sent} ms`);
  });

  s('a SIGKILLed worker: the job is re-run within two heartbeats, its finished step not again', async () => {
    a.send('enqueue jx.steps 1');
    const id = (await waitFor('enqueued', async () => find(a, 'enqueued jx.steps'), 10_000)).split(' ')[2];
    const victim = await waitFor('waiting', async () => (find(a, `waiting ${id}`) ? a : find(b, `waiting ${id}`)
      ? b : undefined), 10_000);
    const survivor = victim === a ? b : a;
    assert.ok(find(victim, `step one ${id}`), 'step one ran on the victim');
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;
    const resumed = Number((await waitFor('resumed', async () => find(survivor, `resumed ${id}`), 10_000))
      .split(' ')[2]);
    assert.ok(resumed - killedAt < 2 * HEARTBEAT_MS, `re-run ${resumed - killedAt} ms after the kill`);
    assert.not.ok(find(survivor, `step one ${id}`), 'the finished step was not run again');
    await waitFor('step two', async () => find(survivor, `step two ${id}`));
  });

  s.run();
}

if (pgUrl) twoProcesses('PostgreSQL', {});
if (redisUrl) {
  const prefix = uniqueName('kjobs-two');
  twoProcesses('PostgreSQL and Redis (BullMQ)', { JOBS_REDIS_URL: redisUrl, JOBS_REDIS_PREFIX: prefix },
    () => dropRedisPrefix(redisUrl, prefix), async () => {
      const redis = new Redis(redisUrl);
      const done = await redis.zcard(`${prefix}:jx.noop:completed`).finally(() => redis.disconnect());
      assert.is(done, 1000, 'the jobs went through BullMQ (its completed set)');
    });
}
