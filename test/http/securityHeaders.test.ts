import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startKernel, type TestKernel, type TestResponse } from '../helpers/kernel.ts';

const s = suite<{ k: TestKernel; proxied: TestKernel }>(
  'http: security headers on every response, no-store on x-sensitive operations',
);
s.before(async (ctx) => {
  ctx.k = await startKernel();
  ctx.proxied = await startKernel({ server: { trustProxy: true } });
});
s.after(async (ctx) => { await ctx.k.stop(); await ctx.proxied.stop(); });

const PASSWORD = 'Passw0rd!x';
function assertBase(res: TestResponse, what: string) {
  assert.is(res.headers.get('x-content-type-options'), 'nosniff', what);
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, what);
}

s('nosniff and frame-ancestors on answers, errors and 405s; no HSTS over plain http', async ({ k }) => {
  for (const [method, path] of [
    ['GET', '/health'],
    ['GET', '/v1/nope'],
    ['DELETE', '/health'],
    ['GET', '/v1/users/me'],
    ['GET', '/openapi.json'],
  ]) {
    const res = await k.request(method, path);
    assertBase(res, `${method} ${path} (${res.status})`);
    assert.is(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
    assert.is(res.headers.get('strict-transport-security'), null);
  }
  const malformed = await k.request('POST', '/v1/auth/login', {
    raw: '{',
    headers: { 'content-type': 'application/json' },
  });
  assertBase(malformed, 'malformed JSON');
});

s('HSTS only behind a trusted proxy that says https (or over TLS)', async ({ k, proxied }) => {
  const https = { 'x-forwarded-proto': 'https' };
  assert.match((await proxied.request('GET', '/health', { headers: https })).headers.get('strict-transport-security') ?? '', /^max-age=31536000/);
  assert.is((await proxied.request('GET', '/health')).headers.get('strict-transport-security'), null);
  assert.is(
    (await k.request('GET', '/health', { headers: https })).headers.get('strict-transport-security'),
    null,
    'an untrusted X-Forwarded-Proto is ignored',
  );
});

s(
  '/docs: a CSP that still lets Swagger UI run (same-origin scripts, no inline script, no eval needed)',
  async ({ k }) => {
    const page = await k.request('GET', '/docs');
    assertBase(page, '/docs');
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.not.match(csp, /unsafe-eval|script-src[^;]*unsafe-inline/);
    assert.match(csp, /connect-src 'self'/, 'Swagger UI fetches /openapi.json and tries operations on this origin');
    assert.match(csp, /img-src 'self' data:/, 'its CSS icons are data: URIs');
    assert.match(csp, /style-src 'self' 'unsafe-inline'/, 'React sets inline styles');
    const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 3);
    for (const [, attrs, body] of scripts) {
      assert.match(attrs, /src="\/docs\/[\w.-]+\.js"/, 'every script is a same-origin file');
      assert.is(body.trim(), '', 'no inline script');
    }
    assert.not.match(page.text, /\son\w+=/, 'no inline event handlers');
    for (const asset of ['/docs/swagger-ui-bundle.js', '/docs/init.js'])
      assertBase(await k.request('GET', asset), asset);
    // The bundle's one `new Function` is a fallback behind `globalThis`, which every browser with CSP has.
    const bundle = readFileSync(createRequire(import.meta.url).resolve('swagger-ui-dist/swagger-ui-bundle.js'), 'utf8');
    assert.not.match(bundle, /\beval\(/);
    assert.is(bundle.match(/new Function\(/g)?.length ?? 0, 1);
    assert.match(
      bundle,
      /"object"==typeof globalThis\)return globalThis;try\{return this\|\|new Function\("return this"\)\(\)/,
    );
  },
);

s('x-sensitive operations answer Cache-Control: no-store (errors too); others do not', async ({ k }) => {
  const body = { name: 'H', email: `headers-${Date.now()}@example.com`, password: PASSWORD };
  const reg = await k.request('POST', '/v1/auth/register', { body });
  assert.is(reg.status, 201);
  assert.is(reg.headers.get('cache-control'), null, 'register carries no secret');
  const login = await k.request('POST', '/v1/auth/login', { body: { email: body.email, password: PASSWORD } });
  assert.is(login.status, 200);
  assert.is(login.headers.get('cache-control'), 'no-store');
  const wrong = await k.request('POST', '/v1/auth/login', { body: { email: body.email, password: 'Wrong#Passw0rd' } });
  assert.is(wrong.status, 401);
  assert.is(wrong.headers.get('cache-control'), 'no-store');
  const auth = { authorization: `Bearer ${login.body.accessToken}` };
  for (const [method, path, payload] of [
    ['POST', '/v1/auth/refresh', { refreshToken: login.body.refreshToken }],
    ['POST', '/v1/auth/mfa/totp', undefined],
    ['POST', '/v1/users/me/api-keys', { name: 'k', scopes: [] }],
  ] as const) {
    const res = await k.request(method, path, { body: payload, headers: auth });
    assert.ok(res.status < 300, `${path}: ${res.text}`);
    assert.is(res.headers.get('cache-control'), 'no-store', path);
  }
  assert.is((await k.request('GET', '/v1/users/me', { headers: auth })).headers.get('cache-control'), null);
});

s('the operations marked x-sensitive in the served contract', async ({ k }) => {
  const doc = (await k.request('GET', '/openapi.json')).body;
  const marked: string[] = [];
  for (const item of Object.values(doc.paths) as Array<
    Record<string, { operationId?: string; 'x-sensitive'?: boolean }>
  >) {
    for (const op of Object.values(item))
      if (op && op['x-sensitive'] === true && op.operationId) marked.push(op.operationId);
  }
  for (const id of [
    'identity.login',
    'identity.refresh',
    'identity.mfaSetup',
    'identity.mfaConfirm',
    'identity.mfaVerify',
    'identity.createApiKey',
    'identity.rotateApiKey',
    'oauth.token',
    'oauth.createClient',
  ]) {
    assert.ok(marked.includes(id), `${id} is x-sensitive`);
  }
});

s.run();
