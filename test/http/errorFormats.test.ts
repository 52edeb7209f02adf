/**
 * Named error formats: a plugin registers a renderer (`errorFormats`), operations that declare
 * `x-error-format: <name>` have every error rendered by it (the kernel's refusals before the handler too: 401,
 * 400 validation, 405, 413), and every other route keeps the deployment's format.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppError, definePlugin, type ErrorRenderer } from '../../kernel/index.ts';
import { errorFormatRegistry } from '../../kernel/http/errorFormat.ts';
import { startTestKernel, type TestKit } from '../kit/index.ts';
import { guarded } from '../helpers/guarded.ts';

const test = guarded(suite('x-error-format: a plugin\'s error format on its routes, the deployment\'s elsewhere'));

const body = {
  required: true,
  content: { 'application/json': { schema: { type: 'object', required: ['n'], properties: {
    n: { type: 'integer', maximum: 10 } } } } },
};
const answer = { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } } };
const contract = {
  openapi: '3.1.0',
  info: { title: 'fmtprobe', version: '1.0.0' },
  paths: {
    '/fmtprobe/marked': { post: { operationId: 'fmtprobe.marked', 'x-error-format': 'probe', security: [],
      requestBody: body, responses: answer } },
    '/fmtprobe/secured': { get: { operationId: 'fmtprobe.secured', 'x-error-format': 'probe',
      security: [{ bearerAuth: [] }], 'x-permissions': [], responses: answer } },
    '/fmtprobe/refused': { get: { operationId: 'fmtprobe.refused', 'x-error-format': 'probe', security: [],
      responses: answer } },
    '/fmtprobe/plain': { post: { operationId: 'fmtprobe.plain', security: [], requestBody: body,
      responses: answer } },
  },
};
const probe: ErrorRenderer = (e, requestId) => ({
  status: e.status === 413 ? 400 : e.status,
  body: { problem: e.code, status: e.status, says: e.message, details: e.errorDetails ?? null, requestId },
  headers: { 'x-probe-format': '1' },
});
const plugin = definePlugin({
  name: 'fmtprobe',
  version: '1.0.0',
  errorFormats: { probe },
  handlers: {
    'fmtprobe.marked': (req) => ({ got: req.body }),
    'fmtprobe.secured': () => ({ ok: true }),
    'fmtprobe.refused': () => {
      throw new AppError(409, 'PROBE_CONFLICT', 'refused by the handler', { headers: { 'Retry-After': '7' } });
    },
    'fmtprobe.plain': (req) => ({ got: req.body }),
  },
});

let kit: TestKit;
test.before(async () => {
  kit = await startTestKernel({ plugins: [plugin], contracts: { fmtprobe: contract } });
});
test.after(async () => kit?.stop());

const json = { 'content-type': 'application/json' };

test('400 contract validation on a marked route: the plugin\'s format, with details and the request id', async () => {
  const res = await kit.request('POST', '/v1/fmtprobe/marked', { raw: '{"n":11}', headers: json });
  assert.is(res.status, 400, res.text);
  assert.is(res.body.problem, 'VALIDATION_ERROR');
  assert.is(res.body.details[0].field, 'body.n');
  assert.is(res.body.requestId, res.headers.get('x-request-id'));
  assert.is(res.headers.get('x-probe-format'), '1');
  assert.is(res.body.error, undefined, 'not the deployment\'s {error: ...}');
});

test('401 before the handler on a marked route: the plugin\'s format; WWW-Authenticate kept', async () => {
  const res = await kit.request('GET', '/v1/fmtprobe/secured');
  assert.is(res.status, 401, res.text);
  assert.is(res.body.status, 401);
  assert.type(res.body.problem, 'string');
  assert.type(res.body.requestId, 'string');
  assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
});

test('malformed JSON, 413 (with the renderer\'s own status), 405 and a handler refusal: all in the format',
  async () => {
    const malformed = await kit.request('POST', '/v1/fmtprobe/marked', { raw: '{"n":', headers: json });
    assert.is(malformed.status, 400, malformed.text);
    assert.is(malformed.body.problem, 'MALFORMED_JSON');
    const big = await kit.request('POST', '/v1/fmtprobe/marked',
      { raw: `{"n":1,"pad":"${'x'.repeat(1_100_000)}"}`, headers: json });
    assert.is(big.status, 400, 'the renderer may choose the status');
    assert.is(big.body.problem, 'PAYLOAD_TOO_LARGE');
    assert.is(big.body.status, 413);
    const wrongMethod = await kit.request('DELETE', '/v1/fmtprobe/marked');
    assert.is(wrongMethod.status, 405, wrongMethod.text);
    assert.is(wrongMethod.body.problem, 'METHOD_NOT_ALLOWED');
    assert.is(wrongMethod.headers.get('allow'), 'POST');
    const refused = await kit.request('GET', '/v1/fmtprobe/refused');
    assert.is(refused.status, 409, refused.text);
    assert.equal([refused.body.problem, refused.body.says], ['PROBE_CONFLICT', 'refused by the handler']);
    assert.is(refused.headers.get('retry-after'), '7', 'the error\'s headers are kept');
  });

test('an unmarked route of the same plugin, an unknown path and another plugin keep the deployment\'s format',
  async () => {
    const plain = await kit.request('POST', '/v1/fmtprobe/plain', { raw: '{"n":11}', headers: json });
    assert.is(plain.status, 400, plain.text);
    assert.is(plain.body.error.code, 'VALIDATION_ERROR');
    assert.type(plain.body.error.requestId, 'string');
    assert.type(plain.body.error.timestamp, 'string');
    assert.is(plain.headers.get('x-probe-format'), null);
    const unknown = await kit.request('GET', '/v1/fmtprobe/nowhere');
    assert.is(unknown.status, 404);
    assert.is(unknown.body.error.code, 'NOT_FOUND');
    const other = await kit.request('GET', '/v1/users/me');
    assert.is(other.status, 401, other.text);
    assert.type(other.body.error.code, 'string');
    assert.type(other.body.error.requestId, 'string');
    assert.is(other.body.problem, undefined);
  });

test('a format no enabled plugin registers fails the boot; one name registered twice is refused', async () => {
  const orphan = structuredClone(contract);
  (orphan.paths['/fmtprobe/plain'].post as Record<string, unknown>)['x-error-format'] = 'nobody';
  let failure = '';
  try {
    const k = await startTestKernel({ plugins: [plugin], contracts: { fmtprobe: orphan }, printErrors: false });
    await k.stop();
  } catch (e) {
    failure = String((e as Error).message);
  }
  assert.match(failure, /fmtprobe\.plain declares x-error-format "nobody"/);
  assert.throws(() => errorFormatRegistry([{ name: 'a', errorFormats: { probe } }, { name: 'b',
    errorFormats: { probe } }]), /"probe" is registered by both a and b/);
  assert.is(errorFormatRegistry([{ name: 'a', errorFormats: { probe } }, { name: 'b' }]).get('probe'), probe);
});

test.run();
