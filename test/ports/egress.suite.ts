import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Egress } from '../../kernel/ports/egress.ts';
import type { AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import { isAppError } from '../../kernel/errors.ts';

export type EgressFactory = (options: {
  allowCidrs?: string[];
  maxResponseBytes?: number;
}) => Promise<Egress & AdapterLifecycle>;

export interface LocalServer {
  url: string;
  port: number;
  /** Requests seen, in order: `METHOD /path`. */
  seen: string[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 with the routes a test gives it. */
export async function localServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<LocalServer> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  assert.unreachable('expected a rejection');
}

export function assertCode(err: unknown, code: string, status?: number): void {
  assert.ok(isAppError(err), `expected an AppError ${code}, got ${String(err)}`);
  assert.is((err as { code: string }).code, code, String(err));
  if (status !== undefined) assert.is((err as { status: number }).status, status);
}

/** What every Egress adapter must do, against a real loopback server reachable through the allowlist. */
export function egressConformance(name: string, make: EgressFactory): void {
  const test = suite(`egress conformance: ${name}`);
  let server: LocalServer;
  let open: Egress & AdapterLifecycle;
  let strict: Egress & AdapterLifecycle;

  test.before(async () => {
    server = await localServer((req, res, body) => {
      if (req.url === '/json') {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-echo-method', req.method ?? '');
        return res.end(JSON.stringify({ method: req.method, body, type: req.headers['content-type'] ?? null }));
      }
      if (req.url === '/redirect') { res.statusCode = 302; res.setHeader('location', '/json'); return res.end(); }
      if (req.url === '/teapot') { res.statusCode = 418; return res.end('short and stout'); }
      if (req.url === '/big') return res.end('x'.repeat(5000));
      res.statusCode = 404;
      res.end();
    });
    open = await make({ allowCidrs: ['127.0.0.0/8'], maxResponseBytes: 4096 });
    strict = await make({});
  });

  test.after(async () => {
    await open?.close?.();
    await strict?.close?.();
    await server?.close();
  });

  test('GET returns status, lower-case headers and the body', async () => {
    const res = await open.request({ url: `${server.url}/json` });
    assert.is(res.status, 200);
    assert.is(res.headers['content-type'], 'application/json');
    assert.equal(res.json(), { method: 'GET', body: '', type: null });
    assert.is(res.attempts, 1);
    assert.is(res.url, `${server.url}/json`);
  });

  test('json: sends the body with content-type application/json', async () => {
    const res = await open.request({ url: `${server.url}/json`, method: 'POST', json: { a: 1 } });
    assert.equal(res.json(), { method: 'POST', body: '{"a":1}', type: 'application/json' });
  });

  test('an HTTP error status is a response, not an error', async () => {
    const res = await open.request({ url: `${server.url}/teapot` });
    assert.is(res.status, 418);
    assert.is(res.text(), 'short and stout');
  });

  test('redirects are returned unless followRedirects asks', async () => {
    const plain = await open.request({ url: `${server.url}/redirect` });
    assert.is(plain.status, 302);
    assert.is(plain.headers.location, '/json');
    const followed = await open.request({ url: `${server.url}/redirect`, followRedirects: 2 });
    assert.is(followed.status, 200);
    assert.is(followed.redirects, 1);
    assert.is(followed.url, `${server.url}/json`);
  });

  test('a body over maxResponseBytes is refused', async () => {
    assertCode(await rejection(() => open.request({ url: `${server.url}/big` })), 'EGRESS_RESPONSE_TOO_LARGE', 502);
    const res = await open.request({ url: `${server.url}/big`, maxResponseBytes: 5000 });
    assert.is(res.body.length, 5000);
  });

  test('without an allowlist, the loopback server is refused (EGRESS_BLOCKED) before any byte is sent', async () => {
    const before = server.seen.length;
    assertCode(await rejection(() => strict.request({ url: `${server.url}/json` })), 'EGRESS_BLOCKED', 400);
    assertCode(await rejection(() => strict.request({ url: `http://localhost:${server.port}/json` })), 'EGRESS_BLOCKED', 400);
    assert.is(server.seen.length, before);
  });

  test('not an http(s) URL: EGRESS_INVALID_URL', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.com/', 'not a url', '/relative', `http://user:pw@127.0.0.1:${server.port}/`]) {
      assertCode(await rejection(() => open.request({ url })), 'EGRESS_INVALID_URL', 400);
    }
  });

  test.run();
}
