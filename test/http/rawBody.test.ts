import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin } from '../../kernel/index.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { guarded } from '../helpers/guarded.ts';

const test = guarded(suite('x-raw-body: the body as received, beside the parsed one'));

const body = { content: { 'application/json': { schema: { type: 'object' } } } };
const answer = { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } } };
const contract = {
  openapi: '3.1.0',
  info: { title: 'rawprobe', version: '1.0.0' },
  paths: {
    '/rawprobe/signed': { post: { operationId: 'rawprobe.signed', 'x-raw-body': true, requestBody: body,
      responses: answer } },
    '/rawprobe/plain': { post: { operationId: 'rawprobe.plain', requestBody: body, responses: answer } },
  },
};
const plugin = definePlugin({
  name: 'rawprobe',
  version: '1.0.0',
  handlers: {
    'rawprobe.signed': (req) => ({ raw: req.rawBody, parsed: req.body }),
    'rawprobe.plain': (req) => ({ hasRaw: req.rawBody !== undefined, parsed: req.body }),
  },
});

let kit: TestKit;
test.before(async () => {
  kit = await startTestKernel({ plugins: [plugin], contracts: { rawprobe: contract } });
});
test.after(async () => kit?.stop());

test('marked: the exact bytes (spacing, key order, unicode) and the parsed JSON', async () => {
  const raw = '{\n  "b": 1,   "a": "é ✓"\n}';
  const headers = { 'content-type': 'application/json' };
  const res = await kit.request('POST', '/v1/rawprobe/signed', { raw, headers });
  assert.is(res.status, 200, res.text);
  assert.is(res.body.raw, raw);
  assert.equal(res.body.parsed, { b: 1, a: 'é ✓' });
});

test('not marked: no raw body kept; a marked operation still validates (not JSON is a 400)', async () => {
  const res = await kit.post('/v1/rawprobe/plain', { a: 1 });
  assert.equal(res.body, { hasRaw: false, parsed: { a: 1 } });
  const bad = await kit.request('POST', '/v1/rawprobe/signed', { raw: 'not json',
    headers: { 'content-type': 'application/json' } });
  assert.is(bad.status, 400, bad.text);
});

test.run();
