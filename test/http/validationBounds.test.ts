import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { definePlugin } from '../../kernel/index.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request, assertError, type TestResponse } from '../helpers/kernel.ts';
import { CONTRACTS_DIR } from '../../scripts/paths.ts';
import { MAX_DETAILS } from '../../kernel/http/validation.ts';

const s = suite<{ kernel: Kernel; url: string }>('http: validation error lists are bounded, and so is their cost');

const bulk = definePlugin({ name: 'bulk', version: '1', handlers: { 'bulk.create': async () => ({ ok: true }) } });
const contract = {
  openapi: '3.1.0',
  info: { title: 'bulk', version: '1' },
  paths: {
    '/bulk': {
      post: {
        operationId: 'bulk.create',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                required: ['items'],
                properties: {
                  items: { type: 'array', items: { type: 'string', maxLength: 5 } },
                  title: { type: 'string' },
                },
              },
            },
          },
        },
        responses: {
          '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } },
          '400': { $ref: '#/components/responses/BadRequest' },
        },
      },
    },
  },
};

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const common = parse(readFileSync(resolve(CONTRACTS_DIR, 'common.yaml'), 'utf8'));
const ajv = addFormats(new Ajv2020({ strict: false }));
const errorSchema = ajv.compile(JSON.parse(JSON.stringify(common.components.schemas.Error))) as ((
  data: unknown,
) => boolean) & { errors?: unknown };

s.before(async (ctx) => {
  ctx.kernel = await bootCustom({ plugins: [bulk], contracts: { bulk: contract } });
  ctx.url = `http://127.0.0.1:${(await ctx.kernel.listen(0, '127.0.0.1')).port}`;
});
s.after(async (ctx) => { await ctx.kernel.stop(); });

async function post(url: string, raw: string): Promise<{ res: TestResponse; ms: number }> {
  const started = performance.now();
  const res = await request(url, 'POST', '/v1/bulk', { raw, headers: { 'content-type': 'application/json' } });
  return { res, ms: performance.now() - started };
}

function assertBounded(res: TestResponse) {
  assertError(res, 400, 'VALIDATION_ERROR');
  assert.ok(errorSchema(res.body), `the error still matches common.yaml Error: ${JSON.stringify(errorSchema.errors)}`);
  const details = res.body.error.details as Array<{ field: string; code: string }>;
  assert.ok(details.length <= MAX_DETAILS + 1, `${details.length} details`);
  assert.is(details.at(-1)!.code, 'truncated');
  assert.ok(res.text.length < 8192, `${res.text.length} bytes`);
}

s('a few problems are all listed, with no truncation marker', async ({ url }) => {
  const { res } = await post(url, JSON.stringify({ items: [1, 'ok', 'toolong', 2], title: 3, extra: true }));
  assertError(res, 400, 'VALIDATION_ERROR');
  const fields = res.body.error.details.map((d: { field: string }) => d.field).sort();
  assert.equal(fields, ['body.extra', 'body.items.0', 'body.items.2', 'body.items.3', 'body.title']);
});

s('30 problems in a small body: the first 20 and a "truncated" entry', async ({ url }) => {
  const { res } = await post(url, JSON.stringify({ items: Array.from({ length: 30 }, (_, i) => i) }));
  assertBounded(res);
  assert.is(res.body.error.details.length, MAX_DETAILS + 1);
  assert.is(res.body.error.details[0].field, 'body.items.0');
});

s('1 MB body of 500,000 wrong items: a small 400, quickly', async ({ url }) => {
  const raw = `{"items":[${Array(500_000).fill('1').join(',')}]}`;
  assert.ok(raw.length > 999_000 && raw.length < 1_048_576);
  const { res, ms } = await post(url, raw);
  assertBounded(res);
  if (process.env.SHOW_MS) console.log(`${Math.round(ms)} ms, ${res.text.length} bytes`);
  assert.ok(ms < 1500, `${Math.round(ms)} ms`);
});

s('95,000 unknown properties: a small 400, quickly', async ({ url }) => {
  const raw = `{"items":[],${Array.from({ length: 95_000 }, (_, i) => `"${i.toString(36)}":0`).join(',')}}`;
  assert.ok(raw.length < 1_048_576, `${raw.length}`);
  const { res, ms } = await post(url, raw);
  assertBounded(res);
  if (process.env.SHOW_MS) console.log(`${Math.round(ms)} ms, ${res.text.length} bytes`);
  assert.ok(ms < 1500, `${Math.round(ms)} ms`);
});

s.run();
