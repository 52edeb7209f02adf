import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from '../../scripts/paths.ts';
import { request } from '../helpers/kernel.ts';
import { freshPostgres } from '../helpers/databases.ts';
import { serviceUrl, uniqueName } from '../helpers/services.ts';
import { email, startIdentity, PASSWORD } from './helpers.ts';

const s = suite('identity: the cached /users/me view is dropped when the user changes');

s('a change on this instance shows at once, to every concurrent reader', async () => {
  const k = await startIdentity();
  try {
    const user = await k.signup(email('views'));
    assert.is((await k.as(user.accessToken, 'GET', '/v1/users/me')).body.name, 'Test User');
    // No events from here on: only the flush on this instance can drop the view.
    await k.kernel.outbox?.stop();
    const patched = await k.as(user.accessToken, 'PATCH', '/v1/users/me', { name: 'Renamed' });
    assert.is(patched.status, 200, patched.text);
    const after = await Promise.all(Array.from({ length: 10 }, () => k.as(user.accessToken, 'GET', '/v1/users/me')));
    assert.equal(after.map((r) => r.body.name), after.map(() => 'Renamed'));
    const promoted = await k.as(await k.admin(), 'PATCH', `/v1/admin/users/${user.id}`, { tier: 'premium' });
    assert.is(promoted.status, 200, promoted.text);
    assert.is(
      (await k.as(user.accessToken, 'GET', '/v1/users/me')).body.tier,
      'premium',
      'an admin change shows at once too',
    );
  } finally {
    await k.stop();
  }
});

s(
  "another instance's identity.user.updated event drops the view (a row changed behind this instance's back)",
  async () => {
    const k = await startIdentity();
    try {
      const user = await k.signup(email('event'));
      assert.is((await k.as(user.accessToken, 'GET', '/v1/users/me')).body.name, 'Test User');
      await k.kernel.orm!.em.fork().nativeUpdate('IdentityUser', { id: user.id }, { name: 'Changed elsewhere' });
      assert.is(
        (await k.as(user.accessToken, 'GET', '/v1/users/me')).body.name,
        'Test User',
        'still cached: nothing told this instance',
      );
      const bus = k.kernel.root.cradle.eventBus as { publish(e: unknown): Promise<void>; drain?: () => Promise<void> };
      await bus.publish({
        id: uniqueName('evt'),
        type: 'identity.user.updated',
        occurredAt: new Date().toISOString(),
        data: { id: user.id, fields: ['name'] },
      });
      await bus.drain?.();
      assert.is((await k.as(user.accessToken, 'GET', '/v1/users/me')).body.name, 'Changed elsewhere');
    } finally {
      await k.stop();
    }
  },
);

s.run();

const pgUrl = serviceUrl('DATABASE_URL', 'user view cache across two processes (PostgreSQL + Kafka)');
const brokers = serviceUrl('KAFKA_BROKERS', 'user view cache across two processes (PostgreSQL + Kafka)');
if (pgUrl && brokers) {
  const two = suite('identity: a change on one instance drops the cached view on the other (events)');
  two('instance B shows a name changed on instance A well before its cache would expire', async () => {
    const db = await freshPostgres(pgUrl);
    const env = {
      PATH: process.env.PATH!, PORT: '0',
      KERNEL_DATABASE__DRIVER: 'postgresql', KERNEL_DATABASE__URL: db.url,
      KERNEL_ADAPTERS__EVENT_BUS__USE: 'kafka', KERNEL_ADAPTERS__EVENT_BUS__BROKERS: brokers,
      KERNEL_ADAPTERS__EVENT_BUS__GROUP_PREFIX: `${uniqueName('views')}.`,
      KERNEL_LOG__LEVEL: 'warn', KERNEL_SERVER__HOST: '127.0.0.1',
    };
    const a = await start(env);
    const b = await start(env);
    try {
      const address = email('two-views');
      assert.is(
        (
          await request(a.url, 'POST', '/v1/auth/register', {
            body: { name: 'Before', email: address, password: PASSWORD },
          })
        ).status,
        201,
      );
      const login = await request(a.url, 'POST', '/v1/auth/login', { body: { email: address, password: PASSWORD } });
      const auth = { authorization: `Bearer ${login.body.accessToken}` };
      assert.is(
        (await request(b.url, 'GET', '/v1/users/me', { headers: auth })).body.name,
        'Before',
        'B has cached the view',
      );
      assert.is(
        (await request(a.url, 'PATCH', '/v1/users/me', { body: { name: 'After' }, headers: auth })).status,
        200,
      );
      const started = Date.now();
      let name = '';
      while (Date.now() - started < 6_000) {
        name = (await request(b.url, 'GET', '/v1/users/me', { headers: auth })).body.name;
        if (name === 'After') break;
        // polling interval, bounded by the 6 s deadline (the cache keeps views 10 s)
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.is(name, 'After', 'the identity.user.updated event reached B and dropped its view');
    } finally {
      await Promise.all([a, b].map((p) => p.stop()));
      await db.drop();
    }
  });
  two.run();
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
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stdout!.on('data', (c) => {
      out += c;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolveUrl(m[1].replace('localhost', '127.0.0.1'));
    });
    child.once('exit', (code) => reject(new Error(`instance exited (${code}) before listening:\n${out}`)));
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
