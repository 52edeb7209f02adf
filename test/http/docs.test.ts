import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Validator } from '@seriousme/openapi-schema-validator';
import { signedIn } from '../helpers/signedIn.ts';
import { startKernel, type TestKernel } from '../helpers/kernel.ts';

const s = suite<{ k: TestKernel }>('http: /openapi.json, /docs, envelope-independent root routes');

s.before(async (ctx) => { ctx.k = await startKernel(); });
s.after(async (ctx) => { await ctx.k.stop(); });

s('/openapi.json is a valid OpenAPI 3.1 document with every route', async ({ k }) => {
  const res = await k.request('GET', '/openapi.json');
  assert.is(res.status, 200);
  assert.is(res.body.openapi, '3.1.0');
  const result = await new Validator().validate(res.body);
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2)?.slice(0, 2000));
  assert.ok(res.body.paths['/v1/notes'].post, 'plugin paths are under the basePath');
  assert.ok(res.body.paths['/health'].get, 'system paths are at the root');
});

s('/docs is served from npm assets with no external reference', async ({ k }) => {
  const page = await k.request('GET', '/docs');
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.not.match(page.text, /https?:\/\//, 'no absolute URL in the page');
  const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => u.startsWith('/'));
  assert.ok(assets.length >= 3, assets.join(','));
  for (const asset of assets) assert.is((await k.request('GET', asset)).status, 200, asset);
  const init = await k.request('GET', '/docs/init.js');
  assert.match(init.text, /validatorUrl: null/, 'the online validator badge is off');
});

s('large bodies are compressed (br or gzip) past 1 KB, small ones are not', async ({ k }) => {
  const big = await fetch(`${k.url}/openapi.json`, { headers: { 'accept-encoding': 'br' } });
  assert.is(big.headers.get('content-encoding'), 'br');
  await big.arrayBuffer();
  const gz = await fetch(`${k.url}/openapi.json`, { headers: { 'accept-encoding': 'gzip' } });
  assert.is(gz.headers.get('content-encoding'), 'gzip');
  await gz.arrayBuffer();
  const small = await fetch(`${k.url}/health`, { headers: { 'accept-encoding': 'gzip, br' } });
  assert.is(small.headers.get('content-encoding'), null);
  await small.arrayBuffer();
});

s('CORS preflight is answered', async ({ k }) => {
  const res = await fetch(`${k.url}/v1/notes`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
  assert.is(res.status, 204);
  assert.is(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
});

s.run();

const e = suite<{ k: TestKernel }>('http: the success envelope and another basePath, by config');
e.before(async (ctx) => {
  ctx.k = await signedIn(await startKernel({ server: { basePath: '/api', envelope: 'success' } }), 'enveloped', '/api');
});
e.after(async (ctx) => { await ctx.k.stop(); });

e('resources and lists are wrapped as {success, data, message}', async ({ k }) => {
  const created = await k.request('POST', '/api/notes', { body: { title: 'wrapped' } });
  assert.is(created.status, 201, created.text);
  assert.is(created.body.success, true);
  assert.is(created.body.data.title, 'wrapped');
  assert.type(created.body.message, 'string');
  const list = await k.request('GET', '/api/notes');
  assert.is(list.body.success, true);
  assert.ok(Array.isArray(list.body.data));
  assert.type(list.body.pagination, 'object');
  const missing = await k.request('GET', '/api/notes/01900000-0000-7000-8000-000000000000');
  assert.is(missing.status, 404);
  assert.is(missing.body.success, false);
  assert.is(missing.body.error.code, 'NOT_FOUND');
  assert.is((await k.request('GET', '/v1/notes')).status, 404, 'the default basePath is gone');
});

e('standard-shaped bodies (OAuth 2.0) stay outside the envelope', async ({ k }) => {
  const token = await k.request('POST', '/api/oauth/token', {
    raw: 'grant_type=bogus',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.is(token.status, 400, token.text);
  assert.is(token.body.error, 'unsupported_grant_type');
  assert.is(token.body.success, undefined);
  const meta = await k.request('GET', '/.well-known/oauth-authorization-server');
  assert.match(meta.body.token_endpoint, /\/api\/oauth\/token$/, 'the metadata uses the deployment basePath');
});

e('the served document describes the envelope and stays valid OpenAPI 3.1', async ({ k }) => {
  const doc = (await k.request('GET', '/openapi.json')).body;
  const result = await new Validator().validate(doc);
  assert.ok(result.valid, JSON.stringify(result.errors)?.slice(0, 1000));
  const created = doc.paths['/api/notes'].post.responses['201'].content['application/json'].schema;
  assert.equal(created.required, ['success', 'data', 'message']);
  const list = doc.paths['/api/notes'].get.responses['200'].content['application/json'].schema;
  assert.ok(list.properties.pagination, 'lists keep pagination beside data');
});

e.run();
