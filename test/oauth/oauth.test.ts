import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRemoteJWKSet, jwtVerify, decodeJwt } from 'jose';
import { Validator } from '@seriousme/openapi-schema-validator';
import { assertError } from '../helpers/kernel.ts';
import { s256, verifyPkce } from '../../plugins/oauth/crypto.ts';
import { redirectUriProblem } from '../../plugins/oauth/clients.ts';
import { APP, assertOAuthError, basic, startOAuth, type Client, type OAuthKernel, type User } from './helpers.ts';

// RFC 7636 Appendix B.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

const unit = suite('oauth: PKCE and redirect URI rules');

unit('S256 of the RFC 7636 Appendix B verifier is its challenge', () => {
  assert.is(s256(VERIFIER), CHALLENGE);
  assert.ok(verifyPkce(VERIFIER, CHALLENGE));
  assert.not.ok(verifyPkce(VERIFIER.replace('d', 'e'), CHALLENGE));
  assert.not.ok(verifyPkce('short', s256('short')), 'a verifier under 43 characters is refused');
});

unit('redirect URIs: https, or http on loopback; no fragments, wildcards or credentials', () => {
  assert.is(redirectUriProblem('https://app.example.com/cb'), undefined);
  assert.is(redirectUriProblem('https://app.example.com/cb?x=1'), undefined);
  assert.is(redirectUriProblem('http://localhost:5173/cb'), undefined);
  assert.is(redirectUriProblem('http://127.0.0.1:8080/cb'), undefined);
  assert.is(redirectUriProblem('http://[::1]:8080/cb'), undefined);
  for (const bad of ['http://app.example.com/cb', 'https://app.example.com/cb#x', 'https://*.example.com/cb', 'https://u:p@app.example.com/cb', 'javascript:alert(1)', '/relative', 'ftp://x.example.com/']) {
    assert.type(redirectUriProblem(bad), 'string', bad);
  }
});

unit.run();

interface Ctx { k: OAuthKernel; alice: User; bob: User }
const s = suite<Ctx>('oauth: authorization server');
s.before(async (ctx) => {
  ctx.k = await startOAuth();
  ctx.alice = await ctx.k.signup('alice');
  ctx.bob = await ctx.k.signup('bob');
});
s.after(async (ctx) => { await ctx.k?.stop(); });

const authorizeQuery = (client: Client, extra: Record<string, string | undefined> = {}) => {
  const params: Record<string, string> = {};
  const all: Record<string, string | undefined> = {
    response_type: 'code', client_id: client.id, redirect_uri: APP, scope: 'profile:read', state: 'xyz-state',
    code_challenge: CHALLENGE, code_challenge_method: 'S256', ...extra,
  };
  for (const [key, v] of Object.entries(all)) if (v !== undefined) params[key] = v;
  return params;
};

/** Approves an authorization request as `user` and returns the code from the redirect. */
async function approve(
  k: OAuthKernel,
  user: User,
  client: Client,
  extra: Record<string, string | undefined> = {},
): Promise<string> {
  const res = await k.noFollow('POST', '/v1/oauth/authorize', user.token, {
    ...authorizeQuery(client, extra),
    decision: 'approve',
  });
  assert.is(res.status, 302, res.text);
  const to = new URL(res.location!);
  assert.is(res.body.redirectTo, res.location);
  const code = to.searchParams.get('code');
  assert.ok(code, res.location!);
  return code!;
}

async function exchange(k: OAuthKernel, client: Client, code: string, verifier = VERIFIER, redirectUri = APP) {
  return k.form(
    '/v1/oauth/token',
    { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier },
    basic(client.id, client.secret!),
  );
}

s('the metadata document (RFC 8414) is served at the root with absolute URLs', async ({ k }) => {
  const res = await k.as(undefined, 'GET', '/.well-known/oauth-authorization-server');
  assert.is(res.status, 200, res.text);
  const m = res.body;
  assert.is(m.issuer, 'api-kernel');
  assert.is(m.authorization_endpoint, `${k.url}/v1/oauth/authorize`);
  assert.is(m.token_endpoint, `${k.url}/v1/oauth/token`);
  assert.is(m.revocation_endpoint, `${k.url}/v1/oauth/revoke`);
  assert.is(m.introspection_endpoint, `${k.url}/v1/oauth/introspect`);
  assert.is(m.jwks_uri, `${k.url}/.well-known/jwks.json`);
  assert.equal(m.response_types_supported, ['code']);
  assert.equal(m.code_challenge_methods_supported, ['S256']);
  assert.equal([...m.grant_types_supported].sort(), ['authorization_code', 'client_credentials', 'refresh_token']);
  assert.ok(m.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
  assert.ok(m.token_endpoint_auth_methods_supported.includes('client_secret_post'));
  assert.ok(m.scopes_supported.includes('profile:read'));
  const jwks = await k.as(undefined, 'GET', new URL(m.jwks_uri).pathname);
  assert.is(jwks.status, 200);
  assert.ok(jwks.body.keys.length >= 1);
});

s('the merged OpenAPI document with the oauth contract is valid', async ({ k }) => {
  const res = await k.as(undefined, 'GET', '/openapi.json');
  assert.is(res.status, 200);
  const result = await new Validator().validate(res.body);
  assert.ok(result.valid, JSON.stringify(result.errors ?? null).slice(0, 500));
  assert.ok(res.body.paths['/.well-known/oauth-authorization-server'], 'at the root');
  assert.ok(res.body.paths['/v1/oauth/token']);
});

s(
  'clients: the secret is shown once, stored hashed; owned per user (404 for others); validated',
  async ({ k, alice, bob }) => {
    const created = await k.as(alice.token, 'POST', '/v1/oauth/clients', {
      name: 'Mine',
      redirectUris: [APP],
      scopes: ['profile:read'],
    });
    assert.is(created.status, 201, created.text);
    assert.is(created.body.type, 'confidential');
    assert.is(created.body.clientId, created.body.id);
    assert.match(created.body.clientSecret, /^[A-Za-z0-9_-]{43}$/);
    const listed = await k.as(alice.token, 'GET', '/v1/oauth/clients');
    assert.is(listed.status, 200);
    assert.ok(listed.body.data.some((c: any) => c.id === created.body.id));
    assert.not.ok(listed.text.includes(created.body.clientSecret), 'the secret is shown only once');
    const one = await k.as(alice.token, 'GET', `/v1/oauth/clients/${created.body.id}`);
    assert.is(one.status, 200);
    assert.not.ok('clientSecret' in one.body);

    assertError(await k.as(bob.token, 'GET', `/v1/oauth/clients/${created.body.id}`), 404, 'NOT_FOUND');
    assertError(await k.as(bob.token, 'DELETE', `/v1/oauth/clients/${created.body.id}`), 404, 'NOT_FOUND');
    assert.not.ok(
      (await k.as(bob.token, 'GET', '/v1/oauth/clients')).body.data.some((c: any) => c.id === created.body.id),
    );
    assertError(await k.as(undefined, 'GET', '/v1/oauth/clients'), 401);

    assertError(
      await k.as(alice.token, 'POST', '/v1/oauth/clients', {
        name: 'x',
        redirectUris: ['http://app.example.com/cb'],
        scopes: ['profile:read'],
      }),
      400,
      'VALIDATION_ERROR',
    );
    assertError(
      await k.as(alice.token, 'POST', '/v1/oauth/clients', {
        name: 'x',
        redirectUris: [`${APP}#frag`],
        scopes: ['profile:read'],
      }),
      400,
      'VALIDATION_ERROR',
    );
    const beyond = await k.as(alice.token, 'POST', '/v1/oauth/clients', {
      name: 'x',
      redirectUris: [APP],
      scopes: ['admin:users:read'],
    });
    assertError(beyond, 400, 'VALIDATION_ERROR');
    assert.match(beyond.text, /not among your permissions/);
    assertError(
      await k.as(alice.token, 'POST', '/v1/oauth/clients', { name: 'x', type: 'public', scopes: ['profile:read'] }),
      400,
      'VALIDATION_ERROR',
    );
    assertError(
      await k.as(alice.token, 'POST', '/v1/oauth/clients', { name: 'x', redirectUris: [APP] }),
      400,
      'VALIDATION_ERROR',
    );

    const pub = await k.as(alice.token, 'POST', '/v1/oauth/clients', {
      name: 'SPA',
      type: 'public',
      redirectUris: ['http://localhost:5173/cb'],
      scopes: ['profile:read'],
    });
    assert.is(pub.status, 201, pub.text);
    assert.not.ok('clientSecret' in pub.body, 'a public client has no secret');
  },
);

s(
  'authorization code + PKCE (RFC 7636 Appendix B pair): consent, code, tokens verified with the served JWKS',
  async ({ k, alice }) => {
    const client = await k.client(alice);
    const info = await k.noFollow(
      'GET',
      `/v1/oauth/authorize?${new URLSearchParams(authorizeQuery(client))}`,
      alice.token,
    );
    assert.is(info.status, 200, info.text);
    assert.equal(info.body.client, { id: client.id, name: 'App' });
    assert.is(info.body.redirectUri, APP);
    assert.equal(
      info.body.scopes.map((x: any) => x.name),
      ['profile:read'],
    );
    assert.is(info.body.state, 'xyz-state');
    assert.is(info.headers.get('cache-control'), 'no-store');

    const res = await k.noFollow('POST', '/v1/oauth/authorize', alice.token, {
      ...authorizeQuery(client),
      decision: 'approve',
    });
    assert.is(res.status, 302, res.text);
    const to = new URL(res.location!);
    assert.is(`${to.origin}${to.pathname}`, APP);
    assert.is(to.searchParams.get('state'), 'xyz-state');
    assert.is(to.searchParams.get('iss'), 'api-kernel');
    const code = to.searchParams.get('code')!;
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);

    const tokens = await exchange(k, client, code);
    assert.is(tokens.status, 200, tokens.text);
    assert.is(tokens.headers.get('cache-control'), 'no-store');
    assert.is(tokens.headers.get('pragma'), 'no-cache');
    assert.is(tokens.body.token_type, 'Bearer');
    assert.is(tokens.body.expires_in, 900);
    assert.is(tokens.body.scope, 'profile:read');
    assert.match(tokens.body.refresh_token, /^[A-Za-z0-9_-]{43}$/);

    const jwks = createRemoteJWKSet(new URL(`${k.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(tokens.body.access_token, jwks, {
      issuer: 'api-kernel',
      audience: 'api-kernel',
      algorithms: ['RS256'],
    });
    assert.is(payload.sub, alice.id);
    assert.is(payload.cid, client.id);
    assert.is(payload.scope, 'profile:read');
    assert.is(payload.role, 'user');
    assert.is(payload.tier, 'free');
    assert.is((payload.exp as number) - (payload.iat as number), 900);

    const me = await k.as(tokens.body.access_token, 'GET', '/v1/users/me');
    assert.is(me.status, 200, me.text);
    assert.is(me.body.id, alice.id);
    assertError(await k.as(tokens.body.access_token, 'GET', '/v1/oauth/clients'), 403, 'FORBIDDEN');
  },
);

s('the token works on an identity endpoint only when its scope includes the permission', async ({ k, alice }) => {
  const client = await k.client(alice);
  const code = await approve(k, alice, client, { scope: 'oauth:clients:manage' });
  const tokens = await exchange(k, client, code);
  assert.is(tokens.status, 200, tokens.text);
  assert.is(tokens.body.scope, 'oauth:clients:manage');
  assertError(await k.as(tokens.body.access_token, 'GET', '/v1/users/me'), 403, 'FORBIDDEN');
  assert.is((await k.as(tokens.body.access_token, 'GET', '/v1/oauth/clients')).status, 200);
});

s('an OAuth token or API key cannot give consent: only a first-party session can', async ({ k, alice }) => {
  const client = await k.client(alice);
  const tokens = await exchange(k, client, await approve(k, alice, client));
  const res = await k.noFollow('POST', '/v1/oauth/authorize', tokens.body.access_token, {
    ...authorizeQuery(client),
    decision: 'approve',
  });
  assertError(res, 403, 'CREDENTIAL_NOT_ALLOWED');
  assert.is(res.location, null);
});

s(
  'a code is single-use: a second exchange is invalid_grant and revokes the tokens issued for it',
  async ({ k, alice }) => {
    const client = await k.client(alice);
    const code = await approve(k, alice, client);
    const first = await exchange(k, client, code);
    assert.is(first.status, 200, first.text);
    assert.is((await k.as(first.body.access_token, 'GET', '/v1/users/me')).status, 200);

    assertOAuthError(await exchange(k, client, code), 400, 'invalid_grant');
    assertError(await k.as(first.body.access_token, 'GET', '/v1/users/me'), 401, 'TOKEN_REVOKED');
    assertOAuthError(
      await k.form(
        '/v1/oauth/token',
        { grant_type: 'refresh_token', refresh_token: first.body.refresh_token },
        basic(client.id, client.secret!),
      ),
      400,
      'invalid_grant',
    );
  },
);

s('two concurrent exchanges of one code: at most one wins, and its tokens end up revoked', async ({ k, alice }) => {
  const client = await k.client(alice);
  const code = await approve(k, alice, client);
  const results = await Promise.all([exchange(k, client, code), exchange(k, client, code)]);
  const wins = results.filter((r) => r.status === 200);
  assert.ok(wins.length <= 1, results.map((r) => r.text).join(' | '));
  for (const r of results) if (r.status !== 200) assertOAuthError(r, 400, 'invalid_grant');
  for (const w of wins) assertError(await k.as(w.body.access_token, 'GET', '/v1/users/me'), 401, 'TOKEN_REVOKED');
});

s("a user grants only what both the client may ask for and the user holds", async ({ k, alice }) => {
  const admin = await k.admin();
  const created = await k.as(admin, 'POST', '/v1/oauth/clients', {
    name: 'Admin tool',
    redirectUris: [APP],
    scopes: ['profile:read', 'admin:users:read'],
  });
  assert.is(created.status, 201, created.text);
  const client: Client = { id: created.body.id, secret: created.body.clientSecret };
  const query = authorizeQuery(client, { scope: 'profile:read admin:users:read' });
  const info = await k.noFollow('GET', `/v1/oauth/authorize?${new URLSearchParams(query)}`, alice.token);
  assert.is(info.status, 200, info.text);
  assert.equal(info.body.scopes.map((x: any) => x.name), ['profile:read'], 'alice does not hold admin:users:read');
  const tokens = await exchange(k, client, await approve(k, alice, client, { scope: 'profile:read admin:users:read' }));
  assert.is(tokens.body.scope, 'profile:read');
  assertError(await k.as(tokens.body.access_token, 'GET', '/v1/admin/users'), 403);
  const onlyAdmin = await k.noFollow(
    'GET',
    `/v1/oauth/authorize?${new URLSearchParams(authorizeQuery(client, { scope: 'admin:users:read' }))}`,
    alice.token,
  );
  assert.is(onlyAdmin.status, 302);
  assert.is(new URL(onlyAdmin.location!).searchParams.get('error'), 'invalid_scope');
});

s('a code is bound to its client, its redirect_uri (exactly) and its verifier', async ({ k, alice }) => {
  const client = await k.client(alice, { redirectUris: [APP, 'https://app.example.com/other'] });
  const other = await k.client(alice);
  const code = await approve(k, alice, client);
  assertOAuthError(await exchange(k, other, code), 400, 'invalid_grant');
  assertOAuthError(await exchange(k, client, code, VERIFIER, 'https://app.example.com/other'), 400, 'invalid_grant');
  assertOAuthError(await exchange(k, client, code, VERIFIER, `${APP}/`), 400, 'invalid_grant');
  assertOAuthError(await exchange(k, client, code, 'a'.repeat(43)), 400, 'invalid_grant');
  assertOAuthError(
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'authorization_code', code, redirect_uri: APP },
      basic(client.id, client.secret!),
    ),
    400,
    'invalid_request',
  );
  // None of those attempts consumed it.
  assert.is((await exchange(k, client, code)).status, 200);
});

s('a wrong or unknown redirect_uri or client is a 400 and never a redirect', async ({ k, alice }) => {
  const client = await k.client(alice);
  for (const [method, extra] of [['GET', { redirect_uri: `${APP}/` }], ['GET', { redirect_uri: 'https://evil.example.com/callback' }], ['POST', { redirect_uri: `${APP}/` }], ['GET', { client_id: '0190d5b4-0000-7000-8000-000000000000' }]] as const) {
    const query = authorizeQuery(client, extra);
    const res = method === 'GET'
      ? await k.noFollow('GET', `/v1/oauth/authorize?${new URLSearchParams(query)}`, alice.token)
      : await k.noFollow('POST', '/v1/oauth/authorize', alice.token, { ...query, decision: 'approve' });
    assertError(res, 400, extra.client_id ? 'INVALID_CLIENT' : 'INVALID_REDIRECT_URI');
    assert.is(res.location, null, 'no Location header');
  }
  const noRedirect = await k.noFollow(
    'GET',
    `/v1/oauth/authorize?${new URLSearchParams(authorizeQuery(client, { redirect_uri: undefined }))}`,
    alice.token,
  );
  assertError(noRedirect, 400, 'VALIDATION_ERROR');
  assert.is(noRedirect.location, null);
});

s(
  'PKCE is required and S256 only; other request errors go back on the redirect (RFC 6749 §4.1.2.1)',
  async ({ k, alice }) => {
    const client = await k.client(alice);
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ code_challenge_method: 'plain', code_challenge: VERIFIER }, 'invalid_request'],
      [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge: 'too-short' }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ response_type: undefined }, 'invalid_request'],
      [{ scope: 'admin:users:write' }, 'invalid_scope'],
    ];
    for (const [extra, error] of cases) {
      for (const method of ['GET', 'POST'] as const) {
        const query = authorizeQuery(client, extra);
        const res =
          method === 'GET'
            ? await k.noFollow('GET', `/v1/oauth/authorize?${new URLSearchParams(query)}`, alice.token)
            : await k.noFollow('POST', '/v1/oauth/authorize', alice.token, { ...query, decision: 'approve' });
        assert.is(res.status, 302, `${method} ${JSON.stringify(extra)}: ${res.text}`);
        const to = new URL(res.location!);
        assert.is(`${to.origin}${to.pathname}`, APP);
        assert.is(to.searchParams.get('error'), error, JSON.stringify(extra));
        assert.is(to.searchParams.get('state'), 'xyz-state');
        assert.is(to.searchParams.get('code'), null);
      }
    }
  },
);

s('deny answers access_denied with the state', async ({ k, alice }) => {
  const client = await k.client(alice);
  const res = await k.noFollow('POST', '/v1/oauth/authorize', alice.token, {
    ...authorizeQuery(client),
    decision: 'deny',
  });
  assert.is(res.status, 302);
  const to = new URL(res.location!);
  assert.is(to.searchParams.get('error'), 'access_denied');
  assert.is(to.searchParams.get('state'), 'xyz-state');
  assert.is(to.searchParams.get('code'), null);
});

s('a public client uses authorization_code with PKCE and no secret, and nothing else', async ({ k, alice }) => {
  const redirect = 'http://127.0.0.1:8765/cb';
  const pub = await k.as(alice.token, 'POST', '/v1/oauth/clients', {
    name: 'CLI',
    type: 'public',
    redirectUris: [redirect],
    scopes: ['profile:read'],
  });
  const client: Client = { id: pub.body.id };
  const code = await approve(k, alice, client, { redirect_uri: redirect });
  const tokens = await k.form('/v1/oauth/token', {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirect,
    code_verifier: VERIFIER,
    client_id: client.id,
  });
  assert.is(tokens.status, 200, tokens.text);
  assert.is((await k.as(tokens.body.access_token, 'GET', '/v1/users/me')).status, 200);
  assertOAuthError(
    await k.form('/v1/oauth/token', { grant_type: 'client_credentials', client_id: client.id }),
    400,
    'unauthorized_client',
  );
  assertOAuthError(
    await k.form('/v1/oauth/token', { grant_type: 'client_credentials', client_id: client.id, client_secret: 'guess' }),
    400,
    'invalid_client',
  );
  assertOAuthError(
    await k.form('/v1/oauth/introspect', { token: tokens.body.access_token, client_id: client.id }),
    400,
    'invalid_client',
  );
});

s(
  'client_credentials: confidential clients, Basic or post; sub = cid, no role; scope narrowed; no refresh token',
  async ({ k, alice }) => {
    const client = await k.client(alice);
    const viaBasic = await k.form(
      '/v1/oauth/token',
      { grant_type: 'client_credentials' },
      basic(client.id, client.secret!),
    );
    assert.is(viaBasic.status, 200, viaBasic.text);
    assert.is(viaBasic.body.scope, 'profile:read oauth:clients:manage');
    assert.is(viaBasic.body.refresh_token, undefined);
    assert.is(viaBasic.headers.get('cache-control'), 'no-store');
    const claims = decodeJwt(viaBasic.body.access_token);
    assert.is(claims.sub, client.id);
    assert.is(claims.cid, client.id);
    assert.is(claims.role, undefined);

    const viaPost = await k.form('/v1/oauth/token', {
      grant_type: 'client_credentials',
      scope: 'profile:read',
      client_id: client.id,
      client_secret: client.secret!,
    });
    assert.is(viaPost.status, 200, viaPost.text);
    assert.is(viaPost.body.scope, 'profile:read');
    assertOAuthError(
      await k.form(
        '/v1/oauth/token',
        { grant_type: 'client_credentials', scope: 'admin:users:read' },
        basic(client.id, client.secret!),
      ),
      400,
      'invalid_scope',
    );
  },
);

s(
  'a wrong client secret is invalid_client: 401 with WWW-Authenticate: Basic when Basic was used',
  async ({ k, alice }) => {
    const client = await k.client(alice);
    const wrong = await k.form(
      '/v1/oauth/token',
      { grant_type: 'client_credentials' },
      basic(client.id, `${client.secret}x`),
    );
    assertOAuthError(wrong, 401, 'invalid_client');
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic/);
    assertOAuthError(
      await k.form(
        '/v1/oauth/token',
        { grant_type: 'client_credentials' },
        basic('0190d5b4-0000-7000-8000-000000000000', 'nope'),
      ),
      401,
      'invalid_client',
    );
    const post = await k.form('/v1/oauth/token', {
      grant_type: 'client_credentials',
      client_id: client.id,
      client_secret: 'nope',
    });
    assertOAuthError(post, 400, 'invalid_client');
    const none = await k.form('/v1/oauth/token', { grant_type: 'client_credentials' });
    assertOAuthError(none, 401, 'invalid_client');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic/);
    assertOAuthError(
      await k.form('/v1/oauth/token', { grant_type: 'client_credentials', client_id: client.id }),
      400,
      'invalid_client',
    );
    assertOAuthError(
      await k.form(
        '/v1/oauth/token',
        { grant_type: 'client_credentials', client_secret: client.secret! },
        basic(client.id, client.secret!),
      ),
      400,
      'invalid_request',
    );
  },
);

s(
  'refresh tokens rotate; scope narrows but never widens; reuse of a rotated token revokes the chain',
  async ({ k, alice }) => {
    const client = await k.client(alice);
    const other = await k.client(alice);
    const code = await approve(k, alice, client, { scope: 'profile:read oauth:clients:manage' });
    const first = await exchange(k, client, code);
    assert.is(first.status, 200, first.text);
    const r1 = first.body.refresh_token;
    const refresh = (token: string, c: Client = client, scope?: string) =>
      k.form(
        '/v1/oauth/token',
        { grant_type: 'refresh_token', refresh_token: token, ...(scope ? { scope } : {}) },
        basic(c.id, c.secret!),
      );

    assertOAuthError(await refresh(r1, other), 400, 'invalid_grant');
    assertOAuthError(await refresh(r1, client, 'profile:read admin:users:read'), 400, 'invalid_scope');
    const second = await refresh(r1, client, 'profile:read');
    assert.is(second.status, 200, second.text);
    assert.is(second.body.scope, 'profile:read');
    const r2 = second.body.refresh_token;
    assert.is.not(r2, r1);
    const third = await refresh(r2);
    assert.is(third.status, 200, third.text);
    assert.is(
      third.body.scope,
      'profile:read oauth:clients:manage',
      'the refresh token keeps the scope originally granted',
    );
    const r3 = third.body.refresh_token;
    assert.is((await k.as(third.body.access_token, 'GET', '/v1/users/me')).status, 200);

    assertOAuthError(await refresh(r1), 400, 'invalid_grant');
    assertOAuthError(await refresh(r3), 400, 'invalid_grant');
    assertError(await k.as(third.body.access_token, 'GET', '/v1/users/me'), 401, 'TOKEN_REVOKED');
  },
);

s('revocation (RFC 7009) and introspection (RFC 7662)', async ({ k, alice }) => {
  const client = await k.client(alice);
  const other = await k.client(alice);
  const auth = basic(client.id, client.secret!);
  const tokens = (await exchange(k, client, await approve(k, alice, client))).body;

  const active = await k.form('/v1/oauth/introspect', { token: tokens.access_token }, auth);
  assert.is(active.status, 200, active.text);
  assert.is(active.headers.get('cache-control'), 'no-store');
  assert.is(active.body.active, true);
  assert.is(active.body.client_id, client.id);
  assert.is(active.body.sub, alice.id);
  assert.is(active.body.scope, 'profile:read');
  assert.is(active.body.token_type, 'Bearer');
  assert.type(active.body.exp, 'number');
  assert.type(active.body.iat, 'number');
  const refreshInfo = await k.form(
    '/v1/oauth/introspect',
    { token: tokens.refresh_token, token_type_hint: 'refresh_token' },
    auth,
  );
  assert.is(refreshInfo.body.active, true);
  assert.is(refreshInfo.body.client_id, client.id);

  const asOther = basic(other.id, other.secret!);
  assert.equal((await k.form('/v1/oauth/introspect', { token: tokens.access_token }, asOther)).body, { active: false });
  assert.equal((await k.form('/v1/oauth/introspect', { token: 'garbage' }, auth)).body, { active: false });
  assert.equal((await k.form('/v1/oauth/introspect', { token: 'a.b.c' }, auth)).body, { active: false });
  assert.equal(
    (await k.form('/v1/oauth/introspect', { token: alice.token }, auth)).body,
    { active: false },
    "a first-party session token is not this client's",
  );
  assertOAuthError(await k.form('/v1/oauth/introspect', {}, auth), 400, 'invalid_request');
  assertOAuthError(await k.form('/v1/oauth/introspect', { token: tokens.access_token }), 401, 'invalid_client');

  // Another client cannot revoke them (200, but nothing happens); unknown tokens are 200 too.
  const foreign = await k.form('/v1/oauth/revoke', { token: tokens.access_token }, asOther);
  assert.is(foreign.status, 200, foreign.text);
  assert.is((await k.as(tokens.access_token, 'GET', '/v1/users/me')).status, 200);
  assert.is((await k.form('/v1/oauth/revoke', { token: 'never-issued' }, auth)).status, 200);
  assertOAuthError(await k.form('/v1/oauth/revoke', { token: 'x' }, basic(client.id, 'wrong')), 401, 'invalid_client');

  const revoked = await k.form(
    '/v1/oauth/revoke',
    { token: tokens.access_token, token_type_hint: 'access_token' },
    auth,
  );
  assert.is(revoked.status, 200);
  assert.equal(revoked.body, {});
  assert.equal((await k.form('/v1/oauth/introspect', { token: tokens.access_token }, auth)).body, { active: false });
  assertError(await k.as(tokens.access_token, 'GET', '/v1/users/me'), 401, 'TOKEN_REVOKED');

  // Revoking a refresh token revokes its grant: the refresh token and every access token from it.
  const again = (await exchange(k, client, await approve(k, alice, client))).body;
  assert.is((await k.form('/v1/oauth/revoke', { token: again.refresh_token }, auth)).status, 200);
  assert.equal((await k.form('/v1/oauth/introspect', { token: again.refresh_token }, auth)).body, { active: false });
  assertOAuthError(
    await k.form('/v1/oauth/token', { grant_type: 'refresh_token', refresh_token: again.refresh_token }, auth),
    400,
    'invalid_grant',
  );
  assertError(await k.as(again.access_token, 'GET', '/v1/users/me'), 401, 'TOKEN_REVOKED');
});

s('form-encoded errors are RFC-shaped, never the kernel format', async ({ k, alice }) => {
  const client = await k.client(alice);
  const auth = basic(client.id, client.secret!);
  assertOAuthError(await k.form('/v1/oauth/token', {}, auth), 400, 'invalid_request');
  assertOAuthError(await k.form('/v1/oauth/token', '', auth), 400, 'invalid_request');
  assertOAuthError(
    await k.form('/v1/oauth/token', { grant_type: 'password', username: 'a', password: 'b' }, auth),
    400,
    'unsupported_grant_type',
  );
  assertOAuthError(
    await k.form('/v1/oauth/token', 'grant_type=client_credentials&grant_type=client_credentials', auth),
    400,
    'invalid_request',
  );
  assertOAuthError(await k.form('/v1/oauth/token', 'grant_type[x]=client_credentials', auth), 400, 'invalid_request');
  assertOAuthError(
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'authorization_code', redirect_uri: APP, code_verifier: VERIFIER },
      auth,
    ),
    400,
    'invalid_request',
  );
  assertOAuthError(
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'authorization_code', code: 'nope', redirect_uri: APP, code_verifier: VERIFIER },
      auth,
    ),
    400,
    'invalid_grant',
  );
  assertOAuthError(
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'authorization_code', code: 'nope', redirect_uri: APP, code_verifier: 'short' },
      auth,
    ),
    400,
    'invalid_request',
  );
  assertOAuthError(await k.form('/v1/oauth/token', { grant_type: 'refresh_token' }, auth), 400, 'invalid_request');
  assertOAuthError(
    await k.form('/v1/oauth/token', { grant_type: 'client_credentials', scope: 'bad"scope' }, auth),
    400,
    'invalid_scope',
  );
  assertOAuthError(
    await k.form('/v1/oauth/token', { grant_type: 'client_credentials' }, 'Bearer abc'),
    401,
    'invalid_client',
  );
});

s('deleting a client revokes everything issued to it', async ({ k, alice }) => {
  const client = await k.client(alice);
  const tokens = (await exchange(k, client, await approve(k, alice, client))).body;
  const cc = (await k.form('/v1/oauth/token', { grant_type: 'client_credentials' }, basic(client.id, client.secret!)))
    .body;
  assert.is((await k.as(tokens.access_token, 'GET', '/v1/users/me')).status, 200);
  assert.is((await k.as(alice.token, 'DELETE', `/v1/oauth/clients/${client.id}`)).status, 204);
  assertError(await k.as(tokens.access_token, 'GET', '/v1/users/me'), 401, 'TOKEN_REVOKED');
  assertError(await k.as(cc.access_token, 'GET', '/v1/oauth/clients'), 401, 'TOKEN_REVOKED');
  assertOAuthError(
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      basic(client.id, client.secret!),
    ),
    401,
    'invalid_client',
  );
  assertError(await k.as(alice.token, 'GET', `/v1/oauth/clients/${client.id}`), 404);
});

s("a suspended user's grants stop: refresh is invalid_grant, introspection inactive, no new consent", async ({ k }) => {
  const carol = await k.signup('carol');
  const client = await k.client(carol);
  const tokens = (await exchange(k, client, await approve(k, carol, client))).body;
  const admin = await k.admin();
  const suspended = await k.as(admin, 'PATCH', `/v1/admin/users/${carol.id}`, { status: 'suspended' });
  assert.is(suspended.status, 200, suspended.text);
  // carol owns the client too: the client itself is now disabled.
  assertOAuthError(
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      basic(client.id, client.secret!),
    ),
    401,
    'invalid_client',
  );

  const dave = await k.signup('dave');
  const owner = await k.signup('owner');
  const app = await k.client(owner);
  const daves = (await exchange(k, app, await approve(k, dave, app))).body;
  assert.is((await k.as(admin, 'PATCH', `/v1/admin/users/${dave.id}`, { status: 'suspended' })).status, 200);
  assertOAuthError(
    await k.form(
      '/v1/oauth/token',
      { grant_type: 'refresh_token', refresh_token: daves.refresh_token },
      basic(app.id, app.secret!),
    ),
    400,
    'invalid_grant',
  );
  assert.equal((await k.form('/v1/oauth/introspect', { token: daves.access_token }, basic(app.id, app.secret!))).body, {
    active: false,
  });
});

s.run();

const expiry = suite<{ k: OAuthKernel }>('oauth: codes are short-lived');
expiry.before(async (ctx) => { ctx.k = await startOAuth({ codeTtlSeconds: 1, accessTokenTtlSeconds: 60, publicBaseUrl: 'https://auth.example.com/' }); });
expiry.after(async (ctx) => { await ctx.k?.stop(); });

expiry('an expired code is invalid_grant', async ({ k }) => {
  const user = await k.signup('late');
  const client = await k.client(user);
  const code = await approve(k, user, client);
  await new Promise((r) => setTimeout(r, 1200));
  assertOAuthError(await exchange(k, client, code), 400, 'invalid_grant');
});

expiry('configured: access-token lifetime and the public base URL of the metadata', async ({ k }) => {
  const user = await k.signup('ttl');
  const client = await k.client(user);
  const tokens = await exchange(k, client, await approve(k, user, client));
  assert.is(tokens.body.expires_in, 60);
  const claims = decodeJwt(tokens.body.access_token);
  assert.is((claims.exp as number) - (claims.iat as number), 60);
  const m = (await k.as(undefined, 'GET', '/.well-known/oauth-authorization-server')).body;
  assert.is(m.token_endpoint, 'https://auth.example.com/v1/oauth/token');
  assert.is(m.jwks_uri, 'https://auth.example.com/.well-known/jwks.json');
});

expiry.run();
