import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { freshPostgres } from '../helpers/databases.ts';
import { request } from '../helpers/kernel.ts';
import { userAuthorization } from '../helpers/signedIn.ts';

const pgUrl = serviceUrl('DATABASE_URL', 'two instances on PostgreSQL + Kafka');
const brokers = serviceUrl('KAFKA_BROKERS', 'two instances on PostgreSQL + Kafka');

if (pgUrl && brokers) {
  const s = suite('scale: two kernel processes share one PostgreSQL and one Kafka');

  s('each event is handled once per consumer group across both instances', async () => {
    const db = await freshPostgres(pgUrl);
    const env = {
      PATH: process.env.PATH!, PORT: '0',
      KERNEL_DATABASE__DRIVER: 'postgresql', KERNEL_DATABASE__URL: db.url,
      KERNEL_ADAPTERS__EVENT_BUS__USE: 'kafka', KERNEL_ADAPTERS__EVENT_BUS__BROKERS: brokers,
      KERNEL_ADAPTERS__EVENT_BUS__GROUP_PREFIX: `${uniqueName('two')}.`,
      KERNEL_LOG__LEVEL: 'warn', KERNEL_SERVER__HOST: '127.0.0.1',
    };
    const [a, b] = await Promise.all([start(env), start(env)]);
    try {
      const headers = await userAuthorization(a.url); // notes are user-owned
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const via = i % 2 ? b : a;
        const res = await request(via.url, 'POST', '/v1/notes', { body: { title: `shared ${i}` }, headers });
        assert.is(res.status, 201, res.text);
        ids.push(res.body.id);
      }
      // Both instances see the same database: a note made on A is readable on B.
      assert.is((await request(b.url, 'GET', `/v1/notes/${ids[0]}`, { headers })).status, 200);

      const deadline = Date.now() + 30_000;
      const activity = new Map<string, Array<{ deliveries: number }>>();
      while (activity.size < ids.length && Date.now() < deadline) {
        for (const id of ids) {
          if (activity.has(id)) continue;
          const res = await request(a.url, 'GET', `/v1/notes/${id}/activity`, { headers });
          if (res.body.data.length) activity.set(id, res.body.data);
        }
        // polling interval, bounded by the deadline
        if (activity.size < ids.length) await new Promise((r) => setTimeout(r, 200));
      }
      assert.is(activity.size, ids.length, 'every event was handled');
      for (const [id, rows] of activity) {
        assert.is(rows.length, 1, `one activity row for ${id}`);
        assert.is(rows[0].deliveries, 1, `handled exactly once in the group for ${id}`);
      }
    } finally {
      const codes = await Promise.all([a, b].map((p) => p.stop()));
      assert.equal(codes, [0, 0], 'both exit 0 on SIGTERM');
      await db.drop();
    }
  });

  s.run();
}

async function start(
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'scripts/cli.ts'), 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let out = '';
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stdout!.on('data', (c) => {
      out += c;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolveUrl(m[1].replace('localhost', '127.0.0.1'));
    });
    child.once('exit', (code) => reject(new Error(`instance exited (${code}) before listening:\n${out}\n${err}`)));
  });
  return {
    url,
    child,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
