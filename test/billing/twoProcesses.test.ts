import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';
import { serviceUrl } from '../helpers/services.ts';
import { freshPostgres } from '../helpers/databases.ts';
import { startTestKernel } from '../kit/index.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { billingOf, CENT } from './helpers.ts';

const pgUrl = serviceUrl('DATABASE_URL', 'ledger holds from two processes on one PostgreSQL');
const AMOUNT = 250_000; // 0.25 cents
const PER_PROCESS = 500;
const COVERED = 640; // 100 free cents + 60 granted = 160 cents

if (pgUrl) {
  const s = suite('billing: two processes holding against one balance on one PostgreSQL');
  s(`${PER_PROCESS * 2} concurrent holds from two processes: exactly ${COVERED} succeed`, async () => {
    const db = await freshPostgres(pgUrl);
    const k = await startTestKernel({ config: { database: { driver: 'postgresql', url: db.url } } });
    const workers: Array<{ child: ChildProcess; ready: Promise<void>; result: Promise<string> }> = [];
    try {
      const u = await k.asUser();
      await billingOf(k).ledger.grant(u.id, 60 * CENT, { idempotencyKey: 'top-up' });
      for (const tag of ['a', 'b']) workers.push(worker(db.url, u.id, tag));
      await Promise.all(workers.map((w) => w.ready));
      for (const w of workers) w.child.stdin!.write('go\n');
      const outcomes = (await Promise.all(workers.map((w) => w.result)))
        .map((line) => JSON.parse(line) as { held: number; refused: number; other: string[] });
      assert.equal(outcomes.flatMap((o) => o.other), [], 'no other errors');
      assert.is(outcomes[0].held + outcomes[1].held, COVERED);
      assert.is(outcomes[0].refused + outcomes[1].refused, PER_PROCESS * 2 - COVERED);
      assert.ok(outcomes[0].held > 0 && outcomes[1].held > 0, `both processes won some: ${JSON.stringify(outcomes)}`);
      const b = await billingOf(k).ledger.balance(u.id);
      assert.is(b.balanceMicros, 0);
      assert.is(b.heldMicros, COVERED * AMOUNT);
      const holds = await k.kernel.orm!.em.fork().count('BillingHold', { userId: u.id, status: 'held' });
      assert.is(holds, COVERED);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      await k.stop();
      await db.drop();
    }
  });
  s('a process killed (SIGKILL) while holding: its holds expire after holdTtlSeconds, freeing it all', async () => {
    const db = await freshPostgres(pgUrl);
    const config = { database: { driver: 'postgresql', url: db.url } };
    const k = await startTestKernel({ config });
    let later: Awaited<ReturnType<typeof startTestKernel>> | undefined;
    const w = worker(db.url, '', 'crash');
    try {
      const u = await k.asUser();
      w.child.stdin!.write(`${u.id}\n`);
      await w.ready;
      w.child.stdin!.write('go\n');
      const outcome = JSON.parse(await w.result) as { held: number };
      w.child.kill('SIGKILL'); // no release, no graceful stop
      assert.is(outcome.held, 400, '100 free cents cover 400 holds of 0.25 cents');
      const held = await billingOf(k).ledger.balance(u.id);
      assert.equal([held.balanceMicros, held.heldMicros], [0, 100 * CENT], 'held by the dead process');
      // Another instance, once the holds' time (holdTtlSeconds, 900 s) has passed.
      later = await startTestKernel({ config, clock: new ManualClock(Date.now() + 901_000) });
      const freed = await billingOf(later).ledger.balance(u.id);
      assert.equal([freed.balanceMicros, freed.heldMicros], [100 * CENT, 0], 'the balance is whole again');
      const again = await billingOf(later).ledger.hold(u.id, 100 * CENT, { idempotencyKey: 'after-crash' });
      assert.is(again.status, 'held');
    } finally {
      w.child.kill('SIGKILL');
      await later?.stop();
      await k.stop();
      await db.drop();
    }
  });
  s.run();
}

function worker(url: string, userId: string, tag: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'test/fixtures/billing/holdWorker.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, DB_URL: url, USER_ID: userId, HOLDS: String(PER_PROCESS),
      AMOUNT: String(AMOUNT), TAG: tag, NODE_ENV: 'test' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  child.stdout!.on('data', (c) => {
    out += c;
    let i: number;
    while ((i = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const next = () => new Promise<string>((res, rej) => {
    const l = lines.shift();
    if (l !== undefined) return res(l);
    waiters.push(res);
    child.once('exit', (code) => rej(new Error(`worker ${tag} exited (${code}):\n${err}`)));
  });
  const ready = next().then((line) => assert.is(line, 'ready'));
  return { child, ready, result: ready.then(next) };
}
