import { suite } from 'uvu';
import { settle } from '../kit/index.ts';
import * as assert from 'uvu/assert';
import { createRemoteJWKSet, jwtVerify, SignJWT, importJWK, generateKeyPair, decodeProtectedHeader } from 'jose';
import { createHmac, createHash } from 'node:crypto';
import { assertError } from '../helpers/kernel.ts';
import { startIdentity, email, PASSWORD, type IdentityKernel } from './helpers.ts';

const s = suite<{ k: IdentityKernel }>('identity: accounts, tokens, sessions');
s.before(async (ctx) => { ctx.k = await startIdentity({ identity: { refreshReuseGraceSeconds: 0 } }); });
s.after(async (ctx) => { await ctx.k.stop(); });

s('register checks email, password policy and duplicates', async ({ k }) => {
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/register', { name: 'x', email: 'not-an-email', password: PASSWORD }),
    400,
    'VALIDATION_ERROR',
  );
  const weak = await k.as(undefined, 'POST', '/v1/auth/register', {
    name: 'x',
    email: email('weak'),
    password: 'password',
  });
  assertError(weak, 400, 'VALIDATION_ERROR');
  assert.match(weak.body.error.details[0].message, /upper-case.*digit.*special/);
  const address = email('dup');
  assert.is(
    (await k.as(undefined, 'POST', '/v1/auth/register', { name: 'x', email: address, password: PASSWORD })).status,
    201,
  );
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/register', { name: 'x', email: address.toUpperCase(), password: PASSWORD }),
    409,
    'CONFLICT',
  );
});

s('login returns the documented wire names; username is an alias of email', async ({ k }) => {
  const address = email('wire');
  await k.signup(address);
  const res = await k.as(undefined, 'POST', '/v1/auth/login', { username: address, password: PASSWORD });
  assert.is(res.status, 200, res.text);
  assert.equal(Object.keys(res.body).sort(), ['accessToken', 'expiresIn', 'refreshToken', 'tokenType', 'user']);
  assert.is(res.body.tokenType, 'Bearer');
  assert.is(res.body.expiresIn, 900);
  assert.is(Buffer.from(res.body.refreshToken, 'base64url').length, 32, '256-bit opaque refresh token');
  assertError(await k.login(address, 'Wrong#Passw0rd'), 401, 'INVALID_CREDENTIALS');
  assertError(await k.login(email('nobody')), 401, 'INVALID_CREDENTIALS');
});

s('access tokens verify with jose through the served JWKS, with every required claim', async ({ k }) => {
  const { accessToken } = await k.signup(email('jwks'));
  const jwks = createRemoteJWKSet(new URL(`${k.url}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(accessToken, jwks, {
    issuer: 'api-kernel',
    audience: 'api-kernel',
    algorithms: ['RS256'],
  });
  assert.is(protectedHeader.alg, 'RS256');
  assert.type(protectedHeader.kid, 'string');
  for (const claim of ['iss', 'aud', 'sub', 'sid', 'exp', 'jti']) assert.ok(payload[claim] !== undefined, claim);
  assert.is(payload.exp! - payload.iat!, 900);
});

s(
  'forged and stale tokens are refused: alg none, HS256 confusion, tampering, expiry, aud, iss, unknown kid',
  async ({ k }) => {
    const { accessToken } = await k.signup(email('forge'));
    const [h, p] = accessToken.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const me = (token: string) => k.as(token, 'GET', '/v1/users/me');

    assert.is((await me(accessToken)).status, 200);
    assertError(await me(`${b64({ alg: 'none', typ: 'JWT' })}.${p}.`), 401);
    const jwk = (await k.as(undefined, 'GET', '/.well-known/jwks.json')).body.keys[0];
    const hsHeader = b64({ alg: 'HS256', typ: 'JWT', kid: jwk.kid });
    const publicPem = (await importJWK(jwk, 'RS256', { extractable: true })) as CryptoKey;
    const spki = Buffer.from(await crypto.subtle.exportKey('spki', publicPem)).toString('base64');
    const pem = `-----BEGIN PUBLIC KEY-----\n${spki.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
    const hsSig = createHmac('sha256', pem).update(`${hsHeader}.${p}`).digest('base64url');
    assertError(await me(`${hsHeader}.${p}.${hsSig}`), 401, 'INVALID_TOKEN');
    assertError(
      await me(`${h}.${b64({ ...claims, role: 'super_admin' })}.${accessToken.split('.')[2]}`),
      401,
      'INVALID_TOKEN',
    );

    const signing = (k.kernel.runtimes.get('identity')!.container.cradle as any).signing;
    assertError(
      await me(await signing.sign({ sub: claims.sub, sid: claims.sid, role: 'user', tier: 'free' }, -60)),
      401,
      'TOKEN_EXPIRED',
    );

    const row = await k.kernel
      .orm!.em.fork()
      .findOne<any>('IdentitySigningKey', { kid: decodeProtectedHeader(accessToken).kid });
    // Stored sealed (encryption at rest): opened with the deployment's key, as the kernel does.
    const privateKey = await importJWK(
      JSON.parse(k.kernel.root.cradle.secrets.open(row.privateJwk.sealed, `identity.signing:${row.kid}`)),
      'RS256',
    );
    const forge = (iss: string, aud: string, kid: string, key = privateKey) =>
      new SignJWT({ sid: claims.sid, role: 'user', tier: 'free' })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setSubject(claims.sub)
        .setIssuer(iss)
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('5m')
        .setJti('x')
        .sign(key);
    assert.is((await me(await forge('api-kernel', 'api-kernel', row.kid))).status, 200, 'the forge itself is right');
    assertError(await me(await forge('api-kernel', 'someone-else', row.kid)), 401, 'INVALID_TOKEN');
    assertError(await me(await forge('evil-issuer', 'api-kernel', row.kid)), 401, 'INVALID_TOKEN');
    const stranger = await generateKeyPair('RS256');
    assertError(
      await me(await forge('api-kernel', 'api-kernel', 'no-such-kid', stranger.privateKey)),
      401,
      'INVALID_TOKEN',
    );
  },
);

s('refresh rotates; replaying a rotated token revokes the family and is audited', async ({ k }) => {
  const first = await k.signup(email('refresh'));
  const second = await k.as(undefined, 'POST', '/v1/auth/refresh', { refreshToken: first.refreshToken });
  assert.is(second.status, 200, second.text);
  assert.is.not(second.body.refreshToken, first.refreshToken);
  assert.is((await k.as(second.body.accessToken, 'GET', '/v1/users/me')).status, 200);

  assertError(
    await k.as(undefined, 'POST', '/v1/auth/refresh', { refreshToken: first.refreshToken }),
    401,
    'REFRESH_TOKEN_REUSED',
  );
  assertError(
    await k.as(undefined, 'POST', '/v1/auth/refresh', { refreshToken: second.body.refreshToken }),
    401,
    'SESSION_ENDED',
  );
  assertError(await k.as(second.body.accessToken, 'GET', '/v1/users/me'), 401, 'SESSION_REVOKED');
  const audit = await k.as(await k.admin(), 'GET', `/v1/admin/audit-logs?action=auth.refresh_reuse&userId=${first.id}`);
  assert.is(audit.body.data.length, 1, audit.text);
});

s('two concurrent refreshes with one token: exactly one wins', async ({ k }) => {
  const { refreshToken } = await k.signup(email('race'));
  const results = await Promise.all([1, 2, 3].map(() => k.as(undefined, 'POST', '/v1/auth/refresh', { refreshToken })));
  assert.is(results.filter((r) => r.status === 200).length, 1, results.map((r) => r.status).join(','));
});

s('logout ends the session now, access tokens included', async ({ k }) => {
  const { accessToken, refreshToken } = await k.signup(email('logout'));
  assert.is((await k.as(accessToken, 'POST', '/v1/auth/logout')).status, 204);
  assertError(await k.as(accessToken, 'GET', '/v1/users/me'), 401, 'SESSION_REVOKED');
  assertError(await k.as(undefined, 'POST', '/v1/auth/refresh', { refreshToken }), 401, 'SESSION_ENDED');
});

s('sessions are listed and ended per device; another user gets 404', async ({ k }) => {
  const address = email('devices');
  const a = await k.signup(address);
  const other = (await k.login(address)).body;
  const list = await k.as(a.accessToken, 'GET', '/v1/auth/sessions');
  assert.is(list.body.data.length, 2);
  assert.is(list.body.data.filter((x: { current: boolean }) => x.current).length, 1);
  const otherId = list.body.data.find((x: { current: boolean }) => !x.current).id;
  const b = await k.signup(email('intruder'));
  assertError(await k.as(b.accessToken, 'DELETE', `/v1/auth/sessions/${otherId}`), 404);
  assert.is((await k.as(a.accessToken, 'DELETE', `/v1/auth/sessions/${otherId}`)).status, 204);
  assertError(await k.as(other.accessToken, 'GET', '/v1/users/me'), 401);
});

s('changing the password needs the current one and ends the other sessions', async ({ k }) => {
  const address = email('pw');
  const a = await k.signup(address);
  const other = (await k.login(address)).body;
  assertError(
    await k.as(a.accessToken, 'PUT', '/v1/auth/password', {
      currentPassword: 'Nope#1234x',
      newPassword: 'New#Passw0rd',
    }),
    400,
  );
  const changed = await k.as(a.accessToken, 'PUT', '/v1/auth/password', {
    currentPassword: PASSWORD,
    newPassword: 'New#Passw0rd',
  });
  assert.is(changed.status, 200, changed.text);
  assert.is(changed.body.revokedSessions, 1);
  assert.is((await k.as(a.accessToken, 'GET', '/v1/users/me')).status, 200, 'this session stays');
  assertError(await k.as(other.accessToken, 'GET', '/v1/users/me'), 401);
  assert.is((await k.login(address, 'New#Passw0rd')).status, 200);
});

s('PATCH /users/me refuses protected fields and changes nothing; a new email needs verification', async ({ k }) => {
  const a = await k.signup(email('mass'));
  for (const body of [
    { role: 'admin' },
    { id: 'x' },
    { emailVerified: true },
    { mfaEnabled: true },
    { createdAt: '2020-01-01T00:00:00Z' },
    { name: 'ok', role: 'super_admin' },
  ]) {
    assertError(await k.as(a.accessToken, 'PATCH', '/v1/users/me', body), 400, 'VALIDATION_ERROR');
  }
  const me = (await k.as(a.accessToken, 'GET', '/v1/users/me')).body;
  assert.is(me.role, 'user');
  assert.is(me.name, 'Test User');
  const moved = email('moved');
  assertError(await k.as(a.accessToken, 'PATCH', '/v1/users/me', { email: moved }), 400, 'VALIDATION_ERROR');
  const changed = await k.as(a.accessToken, 'PATCH', '/v1/users/me', { email: moved, currentPassword: PASSWORD });
  assert.is(changed.status, 200, changed.text);
  assert.is(changed.body.email, me.email, 'the email changes only once the new address confirms it');
  assert.is(changed.body.pendingEmail, moved);
});

s('settings, public profile, export and erasure', async ({ k }) => {
  const a = await k.signup(email('gdpr'));
  const settings = await k.as(a.accessToken, 'PUT', '/v1/users/me/settings', {
    theme: 'dark',
    language: 'fr',
    ai: { saveHistory: false },
  });
  assert.is(settings.status, 200, settings.text);
  assert.is((await k.as(a.accessToken, 'GET', '/v1/users/me/settings')).body.theme, 'dark');
  const profile = await k.as(undefined, 'GET', `/v1/users/${a.id}`);
  assert.equal(Object.keys(profile.body).sort(), ['createdAt', 'id', 'name']);
  const exported = await k.as(a.accessToken, 'GET', '/v1/users/me/export');
  assert.is(exported.body.user.id, a.id);
  assert.ok(exported.body.auditLog.length >= 2);
  assertError(await k.as(a.accessToken, 'DELETE', '/v1/users/me', { password: 'Wrong#Passw0rd' }), 400);
  assert.is((await k.as(a.accessToken, 'DELETE', '/v1/users/me', { password: PASSWORD })).status, 204);
  assertError(await k.as(a.accessToken, 'GET', '/v1/users/me'), 401);
  assertError(await k.as(undefined, 'GET', `/v1/users/${a.id}`), 404);
});

s('events: registered, updated, deleted and session revoked reach the bus', async ({ k }) => {
  const seen: string[] = [];
  const bus = k.kernel.root.cradle.eventBus;
  const subs = await Promise.all(
    ['identity.user.registered', 'identity.user.updated', 'identity.user.deleted', 'identity.session.revoked'].map(
      (t) =>
        bus.subscribe(t, { group: `test-${t}` }, async (e: { type: string }) => {
          seen.push(e.type);
        }),
    ),
  );
  const a = await k.signup(email('events'));
  await k.as(a.accessToken, 'PATCH', '/v1/users/me', { name: 'Renamed' });
  await k.as(a.accessToken, 'DELETE', '/v1/users/me', { password: PASSWORD });
  await settle(k.kernel); // the outbox relayed (it may batch a few ms) and the bus drained
  for (const sub of subs) await sub.unsubscribe();
  for (const t of [
    'identity.user.registered',
    'identity.user.updated',
    'identity.user.deleted',
    'identity.session.revoked',
  ])
    assert.ok(seen.includes(t), `${t} in ${seen.join(',')}`);
});

s('secrets never leave: no hash, secret or stored token in any response of this suite', async ({ k }) => {
  const all = k.bodies.join('\n');
  assert.not.match(all, /\$argon2/);
  assert.not.match(all, /passwordHash|mfaSecret|privateJwk|"hash"/);
  const rows = await k.kernel.orm!.em.fork().find<any>('IdentityRefreshToken', {});
  for (const r of rows) assert.not.ok(all.includes(r.hash), 'a refresh token hash leaked');
  assert.ok(createHash('sha256'));
});

s.run();
