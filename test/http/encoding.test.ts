import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { startKernel, assertError, type TestKernel } from '../helpers/kernel.ts';

const s = suite<{ k: TestKernel; lines: string[] }>(
  'http: a corrupt Content-Encoding is a 400, never a 500 or a stack in the log',
);
s.before(async (ctx) => {
  ctx.lines = [];
  ctx.k = await startKernel({ log: { level: 'info' }, server: { bodyLimitBytes: 65536 } }, { logLines: ctx.lines });
});
s.after(async (ctx) => { await ctx.k.stop(); });

const json = '{"email":"a@example.com","password":"x"}';
const post = (k: TestKernel, raw: string | Buffer, encoding: string) =>
  k.request('POST', '/v1/auth/login', {
    raw,
    headers: { 'content-type': 'application/json', 'content-encoding': encoding },
  });

s(
  'gzip, deflate or br over a plain or truncated body: 400 MALFORMED_BODY, nothing logged at error',
  async ({ k, lines }) => {
    const truncated = gzipSync(Buffer.from(json)).subarray(0, 12);
    for (const [raw, encoding] of [
      [json, 'gzip'],
      [json, 'deflate'],
      [json, 'br'],
      [truncated, 'gzip'],
    ] as const) {
      assertError(await post(k, raw, encoding), 400, 'MALFORMED_BODY');
    }
    const errors = lines.filter((l) => JSON.parse(l).level >= 50);
    assert.equal(errors, [], 'no error line (and so no stack) was logged');
  },
);

s('a valid gzip or br body still works; a gzip bomb past the body limit is a 413', async ({ k }) => {
  assert.is((await post(k, gzipSync(Buffer.from(json)), 'gzip')).status, 401);
  assert.is((await post(k, brotliCompressSync(Buffer.from(json)), 'br')).status, 401);
  const bomb = gzipSync(Buffer.from(`{"email":"${'a'.repeat(1_000_000)}"}`));
  assert.ok(bomb.length < 65536);
  assertError(await post(k, bomb, 'gzip'), 413, 'PAYLOAD_TOO_LARGE');
});

s.run();
