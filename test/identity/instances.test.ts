import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { decodeProtectedHeader } from 'jose';
import { createKernel, loadConfig } from '../../scripts/kernel.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { assertError, request, tempSqliteUrl, type TestResponse } from '../helpers/kernel.ts';
import { freshPostgres } from '../helpers/databases.ts';
import { serviceUrl } from '../helpers/services.ts';
import { ADMIN, PASSWORD, email } from './helpers.ts';

/**
 * Two kernels on one database, each with its own in-process cache and bus: nothing is shared
 * but the database, the worst case for per-process state.
 */
const s = suite('identity: two instances on one database agree on roles, signing keys and standing');
const SYNC_MS = 5000;
const pgUrl = serviceUrl('DATABASE_URL', 'identity two instances on postgresql (sqlite is used)');

interface Instance {
  kernel: Kernel;
  call(method: string, path: string, body?: unknown, token?: string): Promise<TestResponse>;
}

async function instance(database: { driver: string; url: string }, clock: ManualClock): Promise<Instance> {
  const config = loadConfig({
    env: {},
    overrides: deepMerge(
      { server: { port: 0, host: '127.0.0.1' }, database, log: { level: 'silent' }, rateLimit: { enabled: false } },
      {
        plugins: { identity: { bootstrapAdmin: ADMIN, instanceSyncSeconds: SYNC_MS / 1000 } },
      },
    ),
  });
  const kernel = await createKernel(config, { logger: pino({ level: 'silent' }), clock });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  return {
    kernel,
    call: (method, path, body, token) =>
      request(base, method, path, { body, headers: token ? { authorization: `Bearer ${token}` } : {} }),
  };
}

async function pair() {
  const clock = new ManualClock(Date.now());
  const pg = pgUrl ? await freshPostgres(pgUrl) : undefined;
  const database = pg ? { driver: 'postgresql', url: pg.url } : { driver: 'sqlite', url: tempSqliteUrl() };
  const a = await instance(database, clock);
  const b = await instance(database, clock); // after A: A ran the migrations
  const login = async (via: Instance, address: string, password = PASSWORD) => {
    const res = await via.call('POST', '/v1/auth/login', { email: address, password });
    assert.is(res.status, 200, res.text);
    return res.body.accessToken as string;
  };
  return {
    a, b, clock, login,
    async stop() {
      await Promise.all([a.kernel.stop(), b.kernel.stop()]);
      if (pg) await pg.drop(); else rmSync(database.url.replace(/^file:/, ''), { force: true });
    },
  };
}

s('a permission removed from a custom role on A stops being granted on B within instanceSyncSeconds', async () => {
  const { a, b, clock, login, stop } = await pair();
  try {
    const root = await login(a, ADMIN.email, ADMIN.password);
    assert.is(
      (
        await a.call(
          'POST',
          '/v1/admin/roles',
          {
            name: 'auditor',
            level: 15,
            permissions: ['profile:read', 'admin:audit'],
            description: 'Reads the audit log',
          },
          root,
        )
      ).status,
      201,
    );
    const address = email('auditor');
    const made = await a.call(
      'POST',
      '/v1/admin/users',
      { name: 'Aud', email: address, password: PASSWORD, role: 'auditor' },
      root,
    );
    assert.is(made.status, 201, made.text);
    clock.advance(SYNC_MS + 1);
    const token = await login(b, address);
    assert.is((await b.call('GET', '/v1/admin/audit-logs', undefined, token)).status, 200, 'B learnt the new role');

    assert.is((await a.call('PATCH', '/v1/admin/roles/auditor', { permissions: ['profile:read'] }, root)).status, 200);
    assertError(await a.call('GET', '/v1/admin/audit-logs', undefined, token), 403);
    clock.advance(SYNC_MS + 1);
    assertError(await b.call('GET', '/v1/admin/audit-logs', undefined, token), 403);
  } finally {
    await stop();
  }
});

s('after a rotation on A, B signs with the new key', async () => {
  const { a, b, clock, login, stop } = await pair();
  try {
    const root = await login(a, ADMIN.email, ADMIN.password);
    const rotated = await a.call('POST', '/v1/admin/signing-keys/rotate', undefined, root);
    assert.is(rotated.status, 201, rotated.text);
    clock.advance(SYNC_MS + 1);
    const token = await login(b, ADMIN.email, ADMIN.password);
    assert.is(decodeProtectedHeader(token).kid, rotated.body.kid, 'B signs with the key A made');
    assert.is((await a.call('GET', '/v1/users/me', undefined, token)).status, 200);
  } finally {
    await stop();
  }
});

s('a token signed with a key B has not loaded yet verifies on B at once, without waiting for the sync', async () => {
  const { a, b, login, stop } = await pair();
  try {
    const root = await login(a, ADMIN.email, ADMIN.password);
    const rotated = await a.call('POST', '/v1/admin/signing-keys/rotate', undefined, root);
    assert.is(rotated.status, 201, rotated.text);
    const token = await login(a, ADMIN.email, ADMIN.password); // no clock advance: B has not synced
    assert.is(decodeProtectedHeader(token).kid, rotated.body.kid);
    const seen = await Promise.all(Array.from({ length: 8 }, () => b.call('GET', '/v1/users/me', undefined, token)));
    assert.equal(seen.map((r) => r.status), Array(8).fill(200), 'B looks the new kid up instead of refusing it');
    const forged = token.split('.');
    const header = { ...decodeProtectedHeader(token), kid: 'made-up-kid' };
    forged[0] = Buffer.from(JSON.stringify(header)).toString('base64url');
    assertError(await b.call('GET', '/v1/users/me', undefined, forged.join('.')), 401, 'INVALID_TOKEN');
  } finally {
    await stop();
  }
});

s('a suspension on A ends, on B, the user\'s session tokens and a cached API key', async () => {
  const { a, b, clock, login, stop } = await pair();
  try {
    const root = await login(a, ADMIN.email, ADMIN.password);
    const address = email('standing');
    const made = await a.call('POST', '/v1/auth/register', { name: 'U', email: address, password: PASSWORD });
    const token = await login(b, address);
    const key = (await b.call('POST', '/v1/users/me/api-keys', { name: 'k', scopes: ['profile:read'] }, token)).body
      .key;
    assert.is((await b.call('GET', '/v1/users/me', undefined, key)).status, 200, 'the key is now cached on B');

    assert.is((await a.call('PATCH', `/v1/admin/users/${made.body.id}`, { status: 'suspended' }, root)).status, 200);
    assertError(await a.call('GET', '/v1/users/me', undefined, key), 401);
    clock.advance(SYNC_MS + 1);
    assertError(await b.call('GET', '/v1/users/me', undefined, key), 401);
    assertError(await b.call('GET', '/v1/users/me', undefined, token), 401, 'CREDENTIALS_REVOKED');
  } finally {
    await stop();
  }
});

s.run();
