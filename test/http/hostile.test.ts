import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { startKernel, assertError, type TestKernel } from '../helpers/kernel.ts';
import { signedIn } from '../helpers/signedIn.ts';

const s = suite<{ k: TestKernel }>('http: hostile requests get a 4xx in the one error format');

// Sent as a signed-in user: notes need a credential, and these checks are about what follows authentication.
s.before(async (ctx) => { ctx.k = await signedIn(await startKernel({ server: { bodyLimitBytes: 65536 } })); });
s.after(async (ctx) => { await ctx.k.stop(); });

s('wrong types and missing fields list field-level details', async ({ k }) => {
  const res = await k.request('POST', '/v1/notes', { body: { title: 42, pinned: 'yes' } });
  assertError(res, 400, 'VALIDATION_ERROR');
  const fields = res.body.error.details.map((d: { field: string }) => d.field);
  assert.ok(fields.includes('body.title'), JSON.stringify(fields));
  assert.ok(fields.includes('body.pinned'), JSON.stringify(fields));
  const missing = await k.request('POST', '/v1/notes', { body: {} });
  assertError(missing, 400, 'VALIDATION_ERROR');
  assert.equal(missing.body.error.details[0].field, 'body.title');
});

s('extra properties are refused', async ({ k }) => {
  const res = await k.request('POST', '/v1/notes', { body: { title: 'x', id: 'mine', role: 'admin' } });
  assertError(res, 400, 'VALIDATION_ERROR');
  assert.ok(res.body.error.details.some((d: { field: string }) => d.field === 'body.role'));
});

s('a missing body on a required-body operation is a 400', async ({ k }) => {
  assertError(await k.request('POST', '/v1/notes'), 400, 'VALIDATION_ERROR');
});

s('malformed JSON is a 400, not a 500', async ({ k }) => {
  assertError(
    await k.request('POST', '/v1/notes', { raw: '{"title": "x",', headers: { 'content-type': 'application/json' } }),
    400,
    'MALFORMED_JSON',
  );
});

s('a wrong content type is a 415', async ({ k }) => {
  const res = await k.request('POST', '/v1/notes', { raw: 'title=x', headers: { 'content-type': 'text/plain' } });
  assertError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
});

s('a 10 MB body is a 413', async ({ k }) => {
  const big = JSON.stringify({ title: 'x', body: 'a'.repeat(10 * 1024 * 1024) });
  assertError(
    await k.request('POST', '/v1/notes', { raw: big, headers: { 'content-type': 'application/json' } }),
    413,
    'PAYLOAD_TOO_LARGE',
  );
});

s('path traversal and non-uuid ids are rejected by the contract', async ({ k }) => {
  assertError(await k.request('GET', '/v1/notes/..%2F..%2Fetc%2Fpasswd'), 400, 'VALIDATION_ERROR');
  const res = await k.request('GET', '/v1/notes/../../etc/passwd');
  assert.ok(res.status === 404 || res.status === 400, String(res.status));
  assertError(await k.request('GET', '/docs/..%2F..%2Fpackage.json'), 404);
});

s('unknown routes are 404 and wrong methods 405 with Allow', async ({ k }) => {
  // Under a segment the deployment serves: a bare `/v1/nope` is aiapi's (OpenAI's shape: errorFormatPaths).
  assertError(await k.request('GET', '/v1/notes/1/nope'), 404, 'NOT_FOUND');
  const res = await k.request('PUT', '/v1/notes');
  assertError(res, 405, 'METHOD_NOT_ALLOWED');
  assert.match(res.headers.get('allow') ?? '', /GET/);
  assert.match(res.headers.get('allow') ?? '', /POST/);
});

s('query strings: wrong types, out of range and huge ones', async ({ k }) => {
  assertError(await k.request('GET', '/v1/notes?limit=abc'), 400, 'VALIDATION_ERROR');
  assertError(await k.request('GET', '/v1/notes?limit=100000'), 400, 'VALIDATION_ERROR');
  const many = await k.request('GET', `/v1/notes?${Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join('&')}`);
  assert.is(many.status, 200, 'unknown query parameters are ignored');
  const huge = await rawRequest(k.url, `GET /v1/notes?q=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.match(huge, /^HTTP\/1\.1 431/);
  assert.match(huge, /"code":"HEADERS_TOO_LARGE"/);
});

s('a request line the parser rejects still gets the error format', async ({ k }) => {
  const res = await rawRequest(k.url, 'GARBAGE\r\n\r\n');
  assert.match(res, /^HTTP\/1\.1 400/);
  assert.match(res, /"error":\{"code":"BAD_REQUEST"/);
});

s('the process is still healthy after all of it', async ({ k }) => {
  assert.is((await k.request('GET', '/health')).status, 200);
});

function rawRequest(url: string, payload: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(payload));
    let data = '';
    socket.on('data', (c) => (data += c));
    socket.on('end', () => resolve(data));
    socket.on('error', (e) => (data ? resolve(data) : reject(e)));
  });
}

s.run();
