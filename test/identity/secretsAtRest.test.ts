import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { generateSync } from 'otplib';
import { createKernel, loadConfig } from '../../scripts/kernel.ts';
import { deepMerge } from '../../kernel/config/merge.ts';
import { ManualClock } from '../../kernel/ports/clock.ts';
import { request, tempSqliteUrl } from '../helpers/kernel.ts';
import { ADMIN, PASSWORD, email } from './helpers.ts';

const s = suite('identity: private signing keys and TOTP seeds are encrypted at rest; the KEK rotates');

const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
const code = (secret: string) => generateSync({ secret, epoch: Math.floor(clock.now() / 1000) });

async function boot(dbUrl: string, keys: Array<{ id: string; secret: string }>) {
  const config = loadConfig({
    env: {},
    overrides: deepMerge(
      {
        server: { port: 0, host: '127.0.0.1' },
        database: { url: dbUrl },
        log: { level: 'silent' },
        rateLimit: { enabled: false },
      },
      {
        secrets: { keys },
        plugins: { identity: { bootstrapAdmin: ADMIN } },
      },
    ),
  });
  const kernel = await createKernel(config, { logger: pino({ level: 'silent' }), clock });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  const knex = (kernel.orm!.em as any).getConnection().getKnex();
  return {
    kernel,
    base,
    knex,
    call: (method: string, path: string, body?: unknown, token?: string) =>
      request(base, method, path, { body, headers: token ? { authorization: `Bearer ${token}` } : {} }),
  };
}

s(
  'no plaintext secret in the columns; rows sealed with a retired KEK stay readable and are re-sealed at boot',
  async () => {
    const dbUrl = tempSqliteUrl();
    const a = { id: 'kek-a', secret: randomBytes(32).toString('base64') };
    const b = { id: 'kek-b', secret: randomBytes(32).toString('base64') };
    const address = email('sealed');
    let totp = '';
    let k = await boot(dbUrl, [a]);
    try {
      assert.is(
        (await k.call('POST', '/v1/auth/register', { name: 'S', email: address, password: PASSWORD })).status,
        201,
      );
      const token = (await k.call('POST', '/v1/auth/login', { email: address, password: PASSWORD })).body.accessToken;
      totp = (await k.call('POST', '/v1/auth/mfa/totp', undefined, token)).body.secret;
      assert.is((await k.call('POST', '/v1/auth/mfa/totp/confirm', { code: code(totp) }, token)).status, 200);

      const [user] = await k.knex('identity_users').where({ email: address }).select('mfa_secret');
      assert.match(user.mfa_secret, /^sk1\.kek-a\./);
      assert.not.ok(user.mfa_secret.includes(totp), 'the TOTP seed is not stored in the clear');
      for (const row of await k.knex('identity_signing_keys').select('private_jwk')) {
        const text = typeof row.private_jwk === 'string' ? row.private_jwk : JSON.stringify(row.private_jwk);
        assert.not.match(text, /"(d|p|q|dp|dq|qi)"\s*:/, 'no RSA private parameter in the clear');
        assert.match(text, /sk1\.kek-a\./);
      }
    } finally {
      await k.kernel.stop();
    }

    // Rotation: b is active, a is kept for reading.
    k = await boot(dbUrl, [b, a]);
    try {
      clock.advance(30_000);
      const challenge = await k.call('POST', '/v1/auth/login', { email: address, password: PASSWORD });
      const done = await k.call('POST', '/v1/auth/mfa/verify', { mfaToken: challenge.body.mfaToken, code: code(totp) });
      assert.is(done.status, 200, `the seed sealed under the retired KEK still opens: ${done.text}`);
      assert.is(
        (await k.call('GET', '/v1/users/me', undefined, done.body.accessToken)).status,
        200,
        'the signing key sealed under the old KEK still signs',
      );
      const [user] = await k.knex('identity_users').where({ email: address }).select('mfa_secret');
      assert.match(user.mfa_secret, /^sk1\.kek-b\./, 're-sealed under the active KEK at boot');
      // A legacy plaintext seed (stored before encryption at rest) is read, and sealed at the next boot.
      await k.knex('identity_users').where({ email: address }).update({ mfa_secret: totp });
    } finally {
      await k.kernel.stop();
    }

    // The retired KEK is gone: everything was re-sealed, so nothing is lost.
    k = await boot(dbUrl, [b]);
    try {
      const [user] = await k.knex('identity_users').where({ email: address }).select('mfa_secret');
      assert.match(user.mfa_secret, /^sk1\.kek-b\./, 'the plaintext seed was sealed at boot');
      clock.advance(30_000);
      const challenge = await k.call('POST', '/v1/auth/login', { email: address, password: PASSWORD });
      const done = await k.call('POST', '/v1/auth/mfa/verify', { mfaToken: challenge.body.mfaToken, code: code(totp) });
      assert.is(done.status, 200, done.text);
    } finally {
      await k.kernel.stop();
      rmSync(dbUrl.replace(/^file:/, ''), { force: true });
    }
  },
);

s.run();
