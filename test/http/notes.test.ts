import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startKernel, assertError, type TestKernel } from '../helpers/kernel.ts';
import { signedIn, userAuthorization } from '../helpers/signedIn.ts';
import { isUuidV7 } from '../../kernel/ports/ids.ts';

const s = suite<{ anonymous: TestKernel; k: TestKernel }>('http: notes example plugin (sqlite)');

s.before(async (ctx) => {
  ctx.anonymous = await startKernel();
  ctx.k = await signedIn(ctx.anonymous, 'alice');
});
s.after(async (ctx) => { await ctx.anonymous.stop(); });

s('create, get, update, list and delete a note through the contract', async ({ k }) => {
  const created = await k.request('POST', '/v1/notes', { body: { title: 'First', body: 'hello' } });
  assert.is(created.status, 201, created.text);
  assert.ok(isUuidV7(created.body.id), 'ids are UUIDv7');
  assert.is(created.body.pinned, false, 'schema default applied');

  const got = await k.request('GET', `/v1/notes/${created.body.id}`);
  assert.is(got.status, 200);
  assert.is(got.body.title, 'First');

  const patched = await k.request('PATCH', `/v1/notes/${created.body.id}`, { body: { pinned: true } });
  assert.is(patched.status, 200, patched.text);
  assert.is(patched.body.pinned, true);

  const pinned = await k.request('GET', '/v1/notes?pinned=true');
  assert.is(pinned.status, 200);
  assert.is(pinned.body.data.length, 1, 'query booleans are coerced');

  const deleted = await k.request('DELETE', `/v1/notes/${created.body.id}`);
  assert.is(deleted.status, 204);
  assert.is(deleted.text, '');
  assertError(await k.request('GET', `/v1/notes/${created.body.id}`), 404, 'NOT_FOUND');
});

s('anonymous callers can neither read nor write notes', async ({ anonymous, k }) => {
  const mine = (await k.request('POST', '/v1/notes', { body: { title: 'private' } })).body;
  assertError(await anonymous.request('POST', '/v1/notes', { body: { title: 'anonymous' } }), 401);
  assertError(await anonymous.request('GET', '/v1/notes'), 401);
  assertError(await anonymous.request('GET', `/v1/notes/${mine.id}`), 401);
  assertError(await anonymous.request('PATCH', `/v1/notes/${mine.id}`, { body: { title: 'x' } }), 401);
  assertError(await anonymous.request('DELETE', `/v1/notes/${mine.id}`), 401);
  assertError(await anonymous.request('GET', `/v1/notes/${mine.id}/activity`), 401);
});

s("another user's note is a 404 on every operation, and never listed", async ({ anonymous, k }) => {
  const mine = (await k.request('POST', '/v1/notes', { body: { title: 'alice only' } })).body;
  const bob = await signedIn(anonymous, 'bob');
  assertError(await bob.request('GET', `/v1/notes/${mine.id}`), 404, 'NOT_FOUND');
  assertError(
    await bob.request('PATCH', `/v1/notes/${mine.id}`, { body: { title: 'bob was here' } }),
    404,
    'NOT_FOUND',
  );
  assertError(await bob.request('DELETE', `/v1/notes/${mine.id}`), 404, 'NOT_FOUND');
  assertError(await bob.request('GET', `/v1/notes/${mine.id}/activity`), 404, 'NOT_FOUND');
  const listed = await bob.request('GET', '/v1/notes?limit=100');
  assert.is(listed.status, 200);
  assert.not.ok(
    listed.body.data.some((n: { id: string }) => n.id === mine.id),
    "bob's list holds none of alice's notes",
  );
  assert.is((await k.request('GET', `/v1/notes/${mine.id}`)).body.title, 'alice only', 'unchanged');
});

s('x-permissions: a notes:read key reads but cannot write; a zero-scope key does neither', async ({ anonymous }) => {
  const auth = await userAuthorization(anonymous.url, 'keys');
  const key = async (scopes: string[]) => {
    const res = await anonymous.request('POST', '/v1/users/me/api-keys', {
      body: { name: scopes.join() || 'none', scopes },
      headers: auth,
    });
    assert.is(res.status, 201, res.text);
    return { 'x-api-key': res.body.key as string };
  };
  const note = (await anonymous.request('POST', '/v1/notes', { body: { title: 'by session' }, headers: auth })).body;
  const reader = await key(['notes:read']);
  assert.is((await anonymous.request('GET', `/v1/notes/${note.id}`, { headers: reader })).status, 200);
  assertError(
    await anonymous.request('POST', '/v1/notes', { body: { title: 'by reader' }, headers: reader }),
    403,
    'FORBIDDEN',
  );
  assertError(await anonymous.request('DELETE', `/v1/notes/${note.id}`, { headers: reader }), 403, 'FORBIDDEN');
  const none = await key([]);
  assertError(await anonymous.request('GET', '/v1/notes', { headers: none }), 403, 'FORBIDDEN');
  const writer = await key(['notes:read', 'notes:write']);
  assert.is(
    (await anonymous.request('POST', '/v1/notes', { body: { title: 'by writer' }, headers: writer })).status,
    201,
  );
});

s('lists page with an opaque cursor, newest first', async ({ anonymous }) => {
  const k = await signedIn(anonymous, 'pager');
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await k.request('POST', '/v1/notes', { body: { title: `n${i}` } })).body.id);
  const first = await k.request('GET', '/v1/notes?limit=2');
  assert.is(first.body.data.length, 2);
  assert.is(first.body.data[0].id, ids[4]);
  assert.type(first.body.pagination.nextCursor, 'string');
  const second = await k.request('GET', `/v1/notes?limit=2&cursor=${first.body.pagination.nextCursor}`);
  assert.equal(second.body.data.map((n: { id: string }) => n.id), [ids[2], ids[1]]);
  assertError(await k.request('GET', '/v1/notes?cursor=bm90LWEtdXVpZA'), 400, 'VALIDATION_ERROR');
});

s('the created event reaches the activity subscriber once', async ({ k }) => {
  const created = await k.request('POST', '/v1/notes', { body: { title: 'evented' } });
  const bus = k.kernel.root.cradle.eventBus as { drain?: () => Promise<void> };
  const deadline = Date.now() + 5000;
  let activity;
  do {
    await bus.drain?.();
    activity = await k.request('GET', `/v1/notes/${created.body.id}/activity`);
  } while (activity.body.data.length === 0 && Date.now() < deadline);
  assert.is(activity.body.data.length, 1);
  assert.is(activity.body.data[0].action, 'created');
  assert.is(activity.body.data[0].deliveries, 1);
});

s('request ids are accepted or made, and echoed', async ({ k }) => {
  const mine = await k.request('GET', '/health', { headers: { 'x-request-id': 'abc-123' } });
  assert.is(mine.headers.get('x-request-id'), 'abc-123');
  const made = await k.request('GET', '/health');
  assert.ok(isUuidV7(made.headers.get('x-request-id')!));
  const bad = await k.request('GET', '/health', { headers: { 'x-request-id': 'has spaces and <script>' } });
  assert.not.equal(bad.headers.get('x-request-id'), 'has spaces and <script>');
});

s.run();
