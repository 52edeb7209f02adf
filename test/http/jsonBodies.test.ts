import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { startKernel, type TestKernel } from '../helpers/kernel.ts';
import { signedIn, userAuthorization } from '../helpers/signedIn.ts';

/**
 * JSON answers as the wire sees them: the route hands Koa its JSON text (kernel/http/render.ts jsonBodyAsText)
 * and koa-compress looks only at bodies past its threshold (kernel/http/app.ts), with nothing a client sees
 * changed: Content-Type, Content-Length (set last, as Koa sets it), Vary, HEAD, compression past 1 KB.
 */
const s = suite<{ k: TestKernel; id: string; auth: { authorization: string } }>('http: JSON bodies on the wire');

s.before(async (ctx) => {
  ctx.k = await signedIn(await startKernel(), 'wire');
  ctx.auth = await userAuthorization(ctx.k.url, 'wire');
  for (let i = 0; i < 12; i++) {
    const created = await ctx.k.request('POST', '/v1/notes', {
      body: { title: `Note ${i}`, body: 'x'.repeat(200) }, headers: ctx.auth,
    });
    ctx.id = created.body.id;
  }
});
s.after(async (ctx) => { await ctx.k.stop(); });

type Ctx = { k: TestKernel; auth: { authorization: string } };
function raw({ k, auth }: Ctx, method: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: string[]; body: Buffer }>((resolve, reject) => {
    const req = httpRequest(`${k.url}${path}`, { method, headers: { ...auth, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.rawHeaders, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const header = (headers: string[], name: string) => {
  const i = headers.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === name);
  return i < 0 ? undefined : headers[i + 1];
};
/** Header names the kernel set, in order (Node adds Date, Connection and Keep-Alive after them). */
const ownNames = (headers: string[]) => headers.filter((_, j) => j % 2 === 0).map((h) => h.toLowerCase())
  .filter((h) => !['date', 'connection', 'keep-alive'].includes(h));

s('a small JSON answer: its text, Content-Type json, Content-Length last, Vary, not compressed', async (ctx) => {
  const { id } = ctx;
  const res = await raw(ctx, 'GET', `/v1/notes/${id}`, { 'accept-encoding': 'gzip' });
  assert.is(res.status, 200);
  assert.is(header(res.headers, 'content-type'), 'application/json; charset=utf-8');
  assert.is(header(res.headers, 'content-encoding'), undefined);
  assert.match(header(res.headers, 'vary') ?? '', /Accept-Encoding/);
  assert.is(Number(header(res.headers, 'content-length')), res.body.length);
  assert.is(ownNames(res.headers).at(-1), 'content-length');
  assert.is(JSON.parse(res.body.toString('utf8')).id, id);
  const head = await raw(ctx, 'HEAD', `/v1/notes/${id}`);
  assert.is(head.status, 200);
  assert.is(head.body.length, 0);
  assert.is(header(head.headers, 'content-length'), header(res.headers, 'content-length'));
});

s('a JSON answer past the threshold is compressed to the same JSON', async (ctx) => {
  const plain = await raw(ctx, 'GET', '/v1/notes?limit=12');
  const zipped = await raw(ctx, 'GET', '/v1/notes?limit=12', { 'accept-encoding': 'gzip' });
  assert.ok(plain.body.length > 1024, String(plain.body.length));
  assert.is(header(plain.headers, 'content-encoding'), undefined);
  assert.is(header(zipped.headers, 'content-encoding'), 'gzip');
  assert.is(header(zipped.headers, 'content-length'), undefined);
  assert.is(header(zipped.headers, 'content-type'), 'application/json; charset=utf-8');
  assert.equal(JSON.parse(gunzipSync(zipped.body).toString('utf8')).data.map((n: { id: string }) => n.id),
    JSON.parse(plain.body.toString('utf8')).data.map((n: { id: string }) => n.id));
});

s.run();
