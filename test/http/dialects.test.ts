import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startDeployment, assertServedError } from '../helpers/deployment.ts';
import type { TestKernel, TestResponse } from '../helpers/kernel.ts';

const PASSWORD = 'Passw0rd!x';
let seq = 0;
const address = (tag: string) => `${tag}-${Date.now().toString(36)}-${seq++}@example.com`;

interface Ctx { k: TestKernel; doc: any }

async function served(k: TestKernel, path = '/openapi.json') {
  const res = await k.request('GET', path);
  assert.is(res.status, 200, res.text.slice(0, 200));
  const result = await new Validator().validate(res.body);
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2)?.slice(0, 2000));
  return res.body;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function register(k: TestKernel, base: string, email: string) {
  const reg = await k.request('POST', `${base}/auth/register`, {
    body: { name: 'Dialect User', email, password: PASSWORD },
  });
  assert.is(reg.status, 201, reg.text);
  return reg;
}

async function listAll(k: TestKernel, path: string, token: string): Promise<TestResponse> {
  const res = await k.request('GET', path, { headers: bearer(token) });
  assert.is(res.status, 200, res.text);
  return res;
}

// ---------------------------------------------------------------- 002 storycore-assistant
const a = suite<Ctx>(
  'dialect 002 storycore-assistant: /api/v1, snake_case, suggested_action, 002 codes, docs at /api/docs and /api/redoc',
);
a.before(async (ctx) => {
  ctx.k = await startDeployment('storycore-assistant');
  ctx.doc = await served(ctx.k, '/api/openapi.json');
});
a.after(async (ctx) => { await ctx.k.stop(); });

a('the served contract is OpenAPI 3.1 in wire names, with 002 error fields', ({ doc }) => {
  assert.ok(doc.paths['/api/v1/auth/login'].post, 'the facade serves /auth/login');
  assert.is(doc.paths['/api/v1/auth/login'].post.operationId, 'storyauth.login');
  const login = doc.paths['/api/v1/auth/login'].post.responses['200'].content['application/json'].schema;
  assert.equal(login.required, ['access_token', 'refresh_token', 'token_type', 'expires_in']);
  assert.ok(doc.paths['/api/v1/projects/{project_id}'], 'path parameters in snake_case');
  const params = doc.paths['/api/v1/projects/{project_id}'].get.parameters.map((p: any) => p.name);
  assert.ok(params.includes('include_scenes'), params.join());
  const err = doc.components.schemas.Error.properties.error;
  assert.ok(err.properties.suggested_action && err.properties.request_id, Object.keys(err.properties).join());
  assert.ok(!err.properties.requestId);
  assert.ok(doc.paths['/api/v1/health'].get, 'health at /api/v1/health');
});

a('casing both ways: snake on the wire, camelCase in the plugin, opaque maps untouched', async ({ k }) => {
  const res = await k.request('POST', '/api/v1/projects', {
    body: {
      project_name: 'Demo',
      max_scenes: 3,
      scene_settings: { frame_rate: 24 },
      metadata: { someKey: 1, other_key: { innerKey: 2 } },
    },
  });
  assert.is(res.status, 201, res.text);
  assert.equal(res.body.seen_keys, ['projectName', 'maxScenes', 'sceneSettings', 'metadata', 'frameRate']);
  assert.is(res.body.project_name, 'Demo');
  assert.equal(res.body.scene_settings, { frame_rate: 24 });
  assert.equal(res.body.metadata, { someKey: 1, other_key: { innerKey: 2 } }, 'x-casing: preserve');
  assert.equal(Object.keys(res.body).sort(), [
    'max_scenes',
    'metadata',
    'project_id',
    'project_name',
    'scene_settings',
    'seen_keys',
  ]);
  const got = await k.request('GET', '/api/v1/projects/p-9?include_scenes=true');
  assert.is(got.status, 200, got.text);
  assert.equal(
    got.body.seen_keys,
    ['projectId', 'includeScenes'],
    'path and query names reach the plugin in camelCase',
  );
  assert.is(got.body.include_scenes, true);
});

a('a 400 names the wire field (body.refresh_token), details flattened to {field: message}', async ({ k, doc }) => {
  const res = await k.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: 'short' } });
  assertServedError(doc, res, 400, 'VALIDATION_ERROR');
  assert.ok(res.body.error.details['body.refresh_token'], JSON.stringify(res.body.error.details));
  assert.is(res.body.error.suggested_action, 'Correct the fields listed in details and send the request again.');
  assert.type(res.body.error.request_id, 'string');
  const camel = await k.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: 'x'.repeat(40) } });
  assertServedError(doc, camel, 400, 'VALIDATION_ERROR');
  assert.ok(camel.body.error.details['body.refresh_token'], 'the camelCase name is not the wire name');
});

a('renamed codes: AUTHENTICATION_ERROR, RESOURCE_NOT_FOUND, with suggested_action', async ({ k, doc }) => {
  const anon = await k.request('GET', '/api/v1/users/me');
  assertServedError(doc, anon, 401, 'AUTHENTICATION_ERROR');
  assert.match(anon.body.error.suggested_action, /Log in again/);
  const bad = await k.request('GET', '/api/v1/users/me', { headers: bearer('not-a-jwt') });
  assertServedError(doc, bad, 401, 'AUTHENTICATION_ERROR');
  const missing = await k.request('GET', '/api/v1/projects/missing');
  assertServedError(doc, missing, 404, 'RESOURCE_NOT_FOUND');
  const route = await k.request('GET', '/api/v1/nowhere');
  assertServedError(doc, route, 404, 'RESOURCE_NOT_FOUND');
});

a('route control: the facade login (username, 002 token shape) replaces identity.login', async ({ k, doc }) => {
  const email = address('facade');
  await register(k, '/api/v1', email);
  const res = await k.request('POST', '/api/v1/auth/login', { body: { username: email, password: PASSWORD } });
  assert.is(res.status, 200, res.text);
  assert.equal(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
  assert.is(res.body.token_type, 'bearer');
  const me = await k.request('GET', '/api/v1/users/me', { headers: bearer(res.body.access_token) });
  assert.is(me.status, 200, me.text);
  assert.is(me.body.email, email);
  assert.type(me.body.created_at, 'string');
  const identityShape = await k.request('POST', '/api/v1/auth/login', { body: { email, password: PASSWORD } });
  assertServedError(doc, identityShape, 400, 'VALIDATION_ERROR');
  assert.ok(identityShape.body.error.details['body.email'], 'identity\'s body shape is not served here');
  const wrong = await k.request('POST', '/api/v1/auth/login', {
    body: { username: email, password: 'Wrong#Passw0rd' },
  });
  assertServedError(doc, wrong, 401, 'AUTHENTICATION_ERROR');
});

a('cursor paging in snake_case (next_cursor), limits capped', async ({ k, doc }) => {
  const email = address('cursor');
  await register(k, '/api/v1', email);
  const token = (await k.request('POST', '/api/v1/auth/login', { body: { username: email, password: PASSWORD } })).body
    .access_token;
  for (const title of ['one', 'two', 'three']) {
    assert.is((await k.request('POST', '/api/v1/notes', { body: { title }, headers: bearer(token) })).status, 201);
  }
  const first = await listAll(k, '/api/v1/notes?limit=2', token);
  assert.is(first.body.data.length, 2);
  assert.type(first.body.pagination.next_cursor, 'string');
  const second = await listAll(k, `/api/v1/notes?limit=2&cursor=${first.body.pagination.next_cursor}`, token);
  assert.is(second.body.data.length, 1);
  assert.is(second.body.pagination.next_cursor, null);
  assertServedError(
    doc,
    await k.request('GET', '/api/v1/notes?limit=101', { headers: bearer(token) }),
    400,
    'VALIDATION_ERROR',
  );
  assert.ok(doc.paths['/api/v1/notes'].get.parameters.some((p: any) => p.$ref === '#/components/parameters/Cursor'));
});

a('Swagger UI at /api/docs and ReDoc at /api/redoc, from npm, titled with the deployment', async ({ k, doc }) => {
  for (const path of ['/api/docs', '/api/redoc']) {
    const page = await k.request('GET', path);
    assert.is(page.status, 200, path);
    assert.match(page.text, /<title>storycore-assistant<\/title>/);
    assert.not.match(page.text, /https?:\/\//, 'no CDN');
    const assets = [...page.text.matchAll(/src="([^"]+)"|href="(\/[^"]+)"/g)].map((m) => m[1] ?? m[2]);
    assert.ok(assets.length >= 2, assets.join());
    for (const asset of assets) assert.is((await k.request('GET', asset)).status, 200, asset);
  }
  assert.match((await k.request('GET', '/api/docs/init.js')).text, /"\/api\/openapi\.json"/);
  assert.match((await k.request('GET', '/api/redoc/init.js')).text, /Redoc\.init\("\/api\/openapi\.json"/);
  assert.is((await k.request('GET', '/docs')).status, 404, 'the default docs path is not served');
  const csp = (await k.request('GET', '/api/redoc')).headers.get('content-security-policy') ?? '';
  assert.match(csp, /img-src 'self' data:/, 'ReDoc\'s CDN logo is not fetched');
  const schemes = doc.components.securitySchemes;
  assert.equal(
    schemes.bearerAuth,
    { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    'Authorize takes a bearer token',
  );
  assert.equal(schemes.apiKey, { type: 'apiKey', in: 'header', name: 'X-API-Key' }, 'Authorize takes an API key');
});

a('health at /api/v1/health with 002\'s body, produced by config and a plugin\'s details', async ({ k }) => {
  const res = await k.request('GET', '/api/v1/health');
  assert.is(res.status, 200, res.text);
  assert.equal(res.body, {
    status: 'healthy',
    version: '1.2.3',
    storage_usage_gb: 5,
    storage_limit_gb: 50,
    file_count: 125,
    file_limit: 248,
  });
  assert.is((await k.request('GET', '/api/v1/health/ready')).status, 200);
  assert.is((await k.request('GET', '/health')).status, 404);
});

a.run();

// ---------------------------------------------------------------- 003 ilm-red
const b = suite<Ctx>(
  'dialect 003 ilm-red: /v1, documentation links, 003 codes, page/limit with total, totalPages, hasMore',
);
b.before(async (ctx) => {
  ctx.k = await startDeployment('ilm-red');
  ctx.doc = await served(ctx.k);
});
b.after(async (ctx) => { await ctx.k.stop(); });

b('the served contract shows page/limit paging and the documentation field', ({ doc }) => {
  const names = doc.paths['/v1/notes'].get.parameters.map((p: any) => p.$ref ?? p.name);
  assert.ok(
    names.includes('#/components/parameters/Page') && !names.includes('#/components/parameters/Cursor'),
    names.join(),
  );
  assert.equal(doc.components.schemas.PagePagination.required, ['page', 'limit', 'total', 'totalPages', 'hasMore']);
  assert.ok(doc.components.schemas.Error.properties.error.required.includes('documentation'));
  assert.ok(doc.components.schemas.Error.properties.error.properties.requestId);
});

b('page/limit paging with total, totalPages and hasMore; limits capped', async ({ k, doc }) => {
  const email = address('pages');
  await register(k, '/v1', email);
  const token = (await k.request('POST', '/v1/auth/login', { body: { email, password: PASSWORD } })).body.accessToken;
  for (const title of ['a', 'b', 'c'])
    assert.is((await k.request('POST', '/v1/notes', { body: { title }, headers: bearer(token) })).status, 201);
  const p1 = await listAll(k, '/v1/notes?page=1&limit=2', token);
  assert.is(p1.body.data.length, 2);
  assert.equal(p1.body.pagination, { page: 1, limit: 2, total: 3, totalPages: 2, hasMore: true });
  const p2 = await listAll(k, '/v1/notes?page=2&limit=2', token);
  assert.is(p2.body.data.length, 1);
  assert.equal(p2.body.pagination, { page: 2, limit: 2, total: 3, totalPages: 2, hasMore: false });
  assert.not.equal(p1.body.data.map((n: any) => n.id), p2.body.data.map((n: any) => n.id));
  assertServedError(
    doc,
    await k.request('GET', '/v1/notes?limit=1000', { headers: bearer(token) }),
    400,
    'VALIDATION_ERROR',
  );
  assertServedError(
    doc,
    await k.request('GET', '/v1/notes?page=0', { headers: bearer(token) }),
    400,
    'VALIDATION_ERROR',
  );
});

b('errors carry requestId, timestamp and a documentation link; codes renamed to 003\'s', async ({ k, doc }) => {
  const invalid = await k.request('POST', '/v1/projects', { body: {} });
  assertServedError(doc, invalid, 400, 'VALIDATION_ERROR');
  assert.is(invalid.body.error.documentation, 'https://docs.ilm-red.com/errors/VALIDATION_ERROR');
  assert.equal(invalid.body.error.details[0], {
    field: 'body.projectName',
    message: "must have required property 'projectName'",
    code: 'required',
  });
  const bad = await k.request('GET', '/v1/users/me', { headers: bearer('garbage') });
  assertServedError(doc, bad, 401, 'UNAUTHORIZED');
  assert.is(bad.body.error.documentation, 'https://docs.ilm-red.com/errors/UNAUTHORIZED');
  const email = address('perm');
  await register(k, '/v1', email);
  const token = (await k.request('POST', '/v1/auth/login', { body: { email, password: PASSWORD } })).body.accessToken;
  const forbidden = await k.request('GET', '/v1/admin/users', { headers: bearer(token) });
  assertServedError(doc, forbidden, 403, 'INSUFFICIENT_PERMISSIONS');
  assert.is(forbidden.body.error.documentation, 'https://docs.ilm-red.com/errors/INSUFFICIENT_PERMISSIONS');
});

b.run();

// ---------------------------------------------------------------- 004 storycore-studio
const c = suite<Ctx>(
  'dialect 004 storycore-studio: /api, {success, data, message} per operation, page paging, health with checks, memory, cpu',
);
c.before(async (ctx) => {
  ctx.k = await startDeployment('storycore-studio');
  ctx.doc = await served(ctx.k);
});
c.after(async (ctx) => { await ctx.k.stop(); });

c('messages: x-success-message, the deployment override, or one derived from the operation', async ({ k, doc }) => {
  const project = await k.request('POST', '/api/projects', { body: { projectName: 'Film' } });
  assert.is(project.status, 201, project.text);
  assert.is(project.body.success, true);
  assert.is(project.body.message, 'Project created successfully');
  assert.is(project.body.data.projectName, 'Film');
  const email = address('studio');
  const reg = await k.request('POST', '/api/auth/register', { body: { name: 'Studio', email, password: PASSWORD } });
  assert.is(reg.body.message, 'Account created successfully');
  const login = await k.request('POST', '/api/auth/login', { body: { email, password: PASSWORD } });
  assert.is(login.status, 200, login.text);
  assert.is(login.body.message, 'Login successful');
  const token = login.body.data.accessToken;
  const note = await k.request('POST', '/api/notes', { body: { title: 'n' }, headers: bearer(token) });
  assert.is(note.body.message, 'Note created successfully');
  const list = await listAll(k, '/api/notes?page=1&limit=10', token);
  assert.is(list.body.message, 'Notes retrieved successfully');
  assert.equal(list.body.pagination, { page: 1, limit: 10, total: 1, totalPages: 1, hasMore: false });
  const schema = doc.paths['/api/projects'].post.responses['201'].content['application/json'].schema;
  assert.equal(
    schema.properties.message.examples,
    ['Project created successfully'],
    'the served contract shows the message',
  );
});

c(
  'errors under the success envelope carry success: false and validate against the served schema',
  async ({ k, doc }) => {
    const res = await k.request('GET', '/api/projects/missing');
    assertServedError(doc, res, 404, 'NOT_FOUND');
    assert.is(res.body.success, false);
    assert.is(res.body.message, 'No such project');
    assertServedError(
      doc,
      await k.request('POST', '/api/projects', { body: { projectName: 7 } }),
      400,
      'VALIDATION_ERROR',
    );
  },
);

c(
  "health at /api/health with 004's body: status, timestamp, version, checks, uptime, memory, cpu",
  async ({ k, doc }) => {
    const res = await k.request('GET', '/api/health');
    assert.is(res.status, 200, res.text);
    assert.is(res.body.success, true);
    const h = res.body.data;
    assert.equal(Object.keys(h), ['status', 'timestamp', 'version', 'checks', 'uptime', 'memory', 'cpu']);
    assert.is(h.status, 'healthy');
    assert.is(h.checks.database, 'healthy');
    assert.type(h.uptime, 'number');
    assert.equal(Object.keys(h.memory), ['used', 'total', 'percentage']);
    assert.equal(Object.keys(h.cpu), ['usage', 'cores']);
    assert.ok(doc.paths['/api/health'].get && doc.paths['/api/health/ready'].get);
    assert.is((await k.request('GET', '/docs')).status, 200, 'docs at the default path');
    assert.is((await k.request('GET', '/redoc')).status, 200, 'ReDoc at the default path');
  },
);

c.run();

// ---------------------------------------------------------------- 001 tool hub
const d = suite<Ctx>('dialect 001 tool hub: snake_case field names on /v1');
d.before(async (ctx) => {
  ctx.k = await startDeployment('toolhub');
  ctx.doc = await served(ctx.k);
});
d.after(async (ctx) => { await ctx.k.stop(); });

d('identity speaks snake_case: created_at, access_token, user_id-style names', async ({ k, doc }) => {
  const email = address('hub');
  const reg = await register(k, '/v1', email);
  assert.type(reg.body.created_at, 'string');
  assert.type(reg.body.email_verified, 'boolean');
  assert.not.match(reg.text, /createdAt|emailVerified/);
  const login = await k.request('POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
  assert.is(login.status, 200, login.text);
  assert.type(login.body.access_token, 'string');
  assert.type(login.body.refresh_token, 'string');
  const refreshed = await k.request('POST', '/v1/auth/refresh', { body: { refresh_token: login.body.refresh_token } });
  assert.is(refreshed.status, 200, refreshed.text);
  assert.type(refreshed.body.access_token, 'string');
  const missing = await k.request('POST', '/v1/auth/refresh', { body: {} });
  assertServedError(doc, missing, 400, 'VALIDATION_ERROR');
  assert.is(missing.body.error.details[0].field, 'body.refresh_token');
  assert.ok(doc.components.schemas['identity.User'].required.includes('created_at'));
});

d('a request in camelCase is refused, naming the snake_case fields', async ({ k, doc }) => {
  const res = await k.request('POST', '/v1/projects', { body: { projectName: 'x' } });
  assertServedError(doc, res, 400, 'VALIDATION_ERROR');
  const fields = res.body.error.details.map((x: any) => x.field);
  assert.ok(fields.includes('body.project_name') && fields.includes('body.projectName'), fields.join());
});

d.run();
