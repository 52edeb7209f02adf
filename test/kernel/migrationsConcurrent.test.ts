import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { ROOT } from '../../scripts/paths.ts';
import { testDatabases, type TestDatabase } from '../helpers/databases.ts';

interface Run { code: number | null; stdout: string; stderr: string }

function run(args: string[], env: Record<string, string>, onReady?: () => void): { done: Promise<Run>; go(): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => { stdout += c; if (onReady && /^ready$/m.test(stdout)) { onReady(); onReady = undefined; } });
  child.stderr.on('data', (c: Buffer) => { stderr += c; });
  const done = new Promise<Run>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return { done, go: () => child.stdin.end('go\n') };
}

const cli = (args: string[], env: Record<string, string>) => run(['scripts/cli.ts', ...args], env).done;

/** Starts two boots, and lets both go once both are loaded, so their migrations overlap. */
async function twoBoots(env: Record<string, string>): Promise<Run[]> {
  let ready = 0;
  const boots: Array<ReturnType<typeof run>> = [];
  const both = () => { if (++ready === 2) for (const b of boots) b.go(); };
  boots.push(run(['test/fixtures/boot/boot.ts'], env, both), run(['test/fixtures/boot/boot.ts'], env, both));
  return Promise.all(boots.map((b) => b.done));
}

/** `plugin/name` of each migration a boot's "migrations applied" log line lists. */
function applied(r: Run): string[] {
  return r.stdout
    .split('\n')
    .filter((l) => l.includes('"migrations applied"'))
    .flatMap((l) => JSON.parse(l).migrations as string[]);
}

for (const make of await testDatabases('two concurrent boots')) {
  const db: TestDatabase = await make();
  const s = suite(`migrations: two processes booting at once on ${db.driver} take turns`);
  const env = {
    KERNEL_DATABASE__DRIVER: db.driver,
    KERNEL_DATABASE__URL: db.url,
    KERNEL_LOG__LEVEL: 'info',
    KERNEL_SERVER__PORT: '0',
  };

  s('both boots succeed; each migration is applied exactly once', async () => {
    const boots = await twoBoots(env);
    for (const b of boots) assert.is(b.code, 0, `a boot failed:\n${b.stderr}${b.stdout.slice(-2000)}`);
    if (db.driver === 'mongodb') {
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(db.url, { serverSelectionTimeoutMS: 3000 });
      try {
        await client.connect();
        assert.is(await client.db().collection('kernel_locks').countDocuments({}), 0, 'the lock is released');
      } finally {
        await client.close();
      }
      return;
    }
    const all = boots.flatMap(applied);
    assert.ok(all.length > 3, `migrations ran: ${all}`);
    assert.is(new Set(all).size, all.length, `applied twice: ${all}`);
    const status = await cli(['migrate', 'status'], env);
    assert.not.match(status.stdout, /^pending/m, status.stdout);
  });

  if (db.driver !== 'mongodb') {
    s('two `migrate down` at once revert two different migrations', async () => {
      const downs = await Promise.all([0, 1].map(() => cli(['migrate', 'down'], env)));
      for (const d of downs) assert.is(d.code, 0, d.stderr);
      const reverted = downs.map((d) => d.stdout.match(/reverted (\S+)/)?.[1]);
      assert.ok(reverted[0] && reverted[1], downs.map((d) => d.stdout).join('\n'));
      assert.is.not(reverted[0], reverted[1]);
      const pending = (await cli(['migrate', 'status'], env)).stdout.match(/^pending/gm) ?? [];
      assert.is(pending.length, 2);
    });
  }

  s.after(() => db.drop());
  s.run();
}
