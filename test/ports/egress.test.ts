import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { LookupAddress } from 'node:dns';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { systemClock } from '../../kernel/ports/clock.ts';
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import { EGRESS_CALL_CHANNEL, type Egress, type EgressCallEvent } from '../../kernel/ports/egress.ts';
import {
  createUndiciEgress,
  retryAfterMs,
  type EgressHooks,
  type UndiciEgressOptions,
} from '../../adapters/egress/undiciClient.ts';
import { SsrfGuard, parseCidrs } from '../../adapters/egress/ssrfGuard.ts';
import undiciEgress from '../../adapters/egress/undici.ts';
import { startKernel } from '../helpers/kernel.ts';
import { loadConfig } from '../../scripts/kernel.ts';
import { assertCode, egressConformance, localServer, rejection } from './egress.suite.ts';

const silent = pino({ level: 'silent' });
const context = (logger = silent): AdapterContext => ({ logger, clock: systemClock, serviceName: 'kernel-test' });

/** Sleeps recorded, none waited: retry timing is asserted, not slept through. */
function recordedSleep(): { sleeps: number[]; sleep: NonNullable<EgressHooks['sleep']> } {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms) => { sleeps.push(ms); } };
}

async function withClient<T>(
  options: UndiciEgressOptions,
  hooks: EgressHooks,
  run: (egress: Egress) => Promise<T>,
): Promise<T> {
  const egress = await createUndiciEgress(options, context(), hooks);
  try {
    return await run(egress);
  } finally {
    await egress.close!();
  }
}

egressConformance('undici', (options) => createUndiciEgress(options, context()));

// ---------------------------------------------------------------- the SSRF guard

const ssrf = suite('egress: SSRF guard');

// Every one of these spells a non-public address; the WHATWG URL parser (undici's) normalises the IPv4 tricks.
const BLOCKED_URLS = [
  'http://127.0.0.1/', 'http://127.0.0.1./', 'http://2130706433/', 'http://0x7f000001/', 'http://0x7f.0x0.0x0.0x1/',
  'http://0177.0.0.1/', 'http://017700000001/', 'http://127.1/', 'http://127.0.1/', 'http://0/', 'http://0.0.0.0/',
  'http://[::1]/', 'http://[0:0:0:0:0:0:0:1]/', 'http://[::]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/',
  'http://[::ffff:0:127.0.0.1]/', 'http://[::127.0.0.1]/', 'http://[64:ff9b::127.0.0.1]/', 'http://[64:ff9b::a00:1]/',
  'http://[64:ff9b:1::808:808]/', 'http://[2002:7f00:1::]/', 'http://[2002:c0a8:101::1]/',
  'http://10.1.2.3/', 'http://172.16.0.1/', 'http://172.31.255.255/', 'http://192.168.1.1/', 'http://100.64.0.1/',
  'http://100.127.255.254/', 'http://169.254.169.254/latest/meta-data/', 'http://[fd00:ec2::254]/', 'http://[::ffff:a9fe:a9fe]/',
  'http://169.254.1.1/', 'http://224.0.0.1/', 'http://239.255.255.250/', 'http://255.255.255.255/',
  'http://192.0.2.1/', 'http://198.51.100.7/', 'http://203.0.113.9/', 'http://198.18.0.1/', 'http://240.0.0.1/',
  'http://192.0.0.8/', 'http://[fe80::1]/', 'http://[fc00::1]/', 'http://[fd12:3456::1]/', 'http://[ff02::1]/',
  'http://[2001:db8::1]/', 'http://[2001:2::1]/', 'http://[2001::1]/', 'http://[fec0::1]/', 'https://[::1]:8443/',
];

ssrf('every spelling of a non-public address is refused before a connection is made', async () => {
  const resolved: string[] = [];
  await withClient({}, { resolve: async (h) => { resolved.push(h); return []; } }, async (egress) => {
    for (const url of BLOCKED_URLS) {
      const err = await rejection(() => egress.request({ url, retries: 0 }));
      assertCode(err, 'EGRESS_BLOCKED', 400);
      assert.ok(
        !JSON.stringify((err as { errorDetails: unknown }).errorDetails).includes('address'),
        'no resolved address in the response details',
      );
    }
  });
  assert.equal(resolved, [], 'IP literals never reach DNS');
});

ssrf('public addresses pass, including IPv6 forms that embed a public IPv4', () => {
  const guard = new SsrfGuard([]);
  for (const address of [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ]) {
    assert.equal(guard.check(address), { allowed: true, address }, address);
  }
  for (const [address, range] of [
    ['127.0.0.1', 'loopback'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['::ffff:10.0.0.1', 'ipv4Mapped(private)'],
    ['64:ff9b::7f00:1', 'rfc6052(loopback)'],
    ['169.254.169.254', 'cloud-metadata'],
    ['fd00:ec2::254', 'cloud-metadata'],
    ['::7f00:1', 'ipv4Compatible'],
    ['not-an-ip', 'unparseable'],
  ] as const) {
    const verdict = guard.check(address);
    assert.is(verdict.allowed, false, address);
    assert.is((verdict as { range: string }).range, range, address);
  }
});

ssrf(
  'allowCidrs lets a range through (IPv4-mapped forms too) but never cloud metadata; bad entries fail at start',
  async () => {
    const guard = new SsrfGuard(parseCidrs(['127.0.0.0/8', '169.254.0.0/16', '::1', 'fd00::/8']));
    assert.ok(guard.check('127.0.0.1').allowed);
    assert.ok(guard.check('::ffff:127.0.0.1').allowed);
    assert.ok(guard.check('::1').allowed);
    assert.ok(guard.check('169.254.1.1').allowed);
    assert.not.ok(guard.check('169.254.169.254').allowed, 'metadata stays refused under an allowlist');
    assert.not.ok(guard.check('::ffff:169.254.169.254').allowed);
    assert.not.ok(guard.check('fd00:ec2::254').allowed);
    assert.not.ok(guard.check('10.0.0.1').allowed, 'outside the allowlist');
    assert.not.ok(
      new SsrfGuard([], false).check('169.254.169.254').allowed,
      'metadata stays refused with the guard off',
    );
    assert.ok(new SsrfGuard([], false).check('10.0.0.1').allowed);
    assert.instance(await rejection(() => createUndiciEgress({ allowCidrs: ['10.0.0.0/33'] }, context())), TypeError);
    assert.instance(await rejection(() => createUndiciEgress({ allowCidrs: ['intranet'] }, context())), TypeError);
  },
);

ssrf('a name is resolved and every answer checked: one private answer among public ones refuses the call', async () => {
  const answers: Record<string, LookupAddress[]> = {
    'internal.example': [{ address: '10.0.0.5', family: 4 }],
    'mixed.example': [{ address: '93.184.216.34', family: 4 }, { address: '192.168.0.10', family: 4 }],
    'metadata.example': [{ address: '169.254.169.254', family: 4 }],
    'v6.example': [{ address: '::ffff:127.0.0.1', family: 6 }],
  };
  await withClient({}, { resolve: async (h) => answers[h] ?? [] }, async (egress) => {
    for (const host of Object.keys(answers)) {
      assertCode(await rejection(() => egress.request({ url: `http://${host}/`, retries: 0 })), 'EGRESS_BLOCKED', 400);
    }
  });
  // Real DNS: localhost is loopback.
  await withClient({}, {}, async (egress) => {
    assertCode(await rejection(() => egress.request({ url: 'http://localhost:9/', retries: 0 })), 'EGRESS_BLOCKED', 400);
  });
});

ssrf(
  'DNS rebinding: one lookup per connection, the socket dials the vetted answer; a later private answer is refused',
  async () => {
    const server = await localServer((_req, res) => {
      res.setHeader('connection', 'close'); // every request needs a new connection, hence a new lookup
      res.end('ok');
    });
    // The first answer is allowed (the allowlist stands in for a public address), every later one is private.
    // "rebind.test" does not exist in real DNS: reaching the server proves the socket used the vetted answer.
    const lookups: string[] = [];
    const resolve = async (host: string): Promise<LookupAddress[]> => {
      lookups.push(host);
      return lookups.length === 1 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '10.0.0.7', family: 4 }];
    };
    try {
      await withClient({ allowCidrs: ['127.0.0.1/32'] }, { resolve }, async (egress) => {
        const url = `http://rebind.test:${server.port}/`;
        const first = await egress.request({ url });
        assert.is(first.text(), 'ok');
        assert.is(lookups.length, 1, 'vetting and dialling share one DNS answer');
        const connections = server.seen.length;
        assertCode(await rejection(() => egress.request({ url, retries: 0 })), 'EGRESS_BLOCKED', 400);
        assert.is(lookups.length, 2);
        assert.is(server.seen.length, connections, 'the rebound request never reached a server');
      });
    } finally {
      await server.close();
    }
  },
);

ssrf('every redirect hop is checked: a redirect to a private or metadata address is refused', async () => {
  const target = await localServer((req, res) => res.end(`target ${req.headers.authorization ?? 'no-auth'}`));
  const server = await localServer((req, res) => {
    const to = new URL(req.url!, 'http://x').searchParams.get('to')!;
    res.statusCode = 302;
    res.setHeader('location', to);
    res.end();
  });
  const answers: Record<string, LookupAddress[]> = { 'evil.example': [{ address: '169.254.169.254', family: 4 }] };
  try {
    await withClient({ allowCidrs: ['127.0.0.1/32'] }, { resolve: async (h) => answers[h] ?? [] }, async (egress) => {
      for (const to of ['http://10.0.0.1/', 'http://[::1]/', 'http://[::ffff:10.0.0.1]/', 'http://169.254.169.254/latest/meta-data/', 'http://evil.example/']) {
        const url = `${server.url}/?to=${encodeURIComponent(to)}`;
        assertCode(
          await rejection(() => egress.request({ url, followRedirects: 3, retries: 0 })),
          'EGRESS_BLOCKED',
          400,
        );
      }
      // Not followed unless asked: the 302 comes back as it is.
      const plain = await egress.request({ url: `${server.url}/?to=${encodeURIComponent('http://10.0.0.1/')}` });
      assert.is(plain.status, 302);
      // A cross-origin hop drops credentials.
      const hop = await egress.request({
        url: `${server.url}/?to=${encodeURIComponent(`${target.url}/`)}`,
        followRedirects: 1,
        headers: { Authorization: 'Bearer SECRET' },
      });
      assert.is(hop.text(), 'target no-auth');
      // More hops than allowed: the last redirect is returned.
      const loop = await egress.request({
        url: `${server.url}/?to=${encodeURIComponent(`${server.url}/?to=/`)}`,
        followRedirects: 1,
      });
      assert.is(loop.status, 302);
      assert.is(loop.redirects, 1);
    });
  } finally {
    await server.close();
    await target.close();
  }
});

ssrf('boot: a configured allowlist is logged as a warning', async () => {
  const lines: { level: number; msg: string; allowCidrs?: string[] }[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  const egress = await createUndiciEgress({ allowCidrs: ['127.0.0.1/32'] }, context(logger));
  await egress.close!();
  const warn = lines.find((l) => l.level === 40 && /allowlist/.test(l.msg));
  assert.ok(warn, JSON.stringify(lines));
  assert.equal(warn!.allowCidrs, ['127.0.0.1/32']);
  const quiet: unknown[] = [];
  const e2 = await createUndiciEgress({}, context(pino({ level: 'info' }, { write: (l: string) => quiet.push(l) })));
  await e2.close!();
  assert.equal(quiet, [], 'no warning without an allowlist');
});

ssrf.run();

// ---------------------------------------------------------------- timeouts, size cap, retries

const limits = suite('egress: timeouts, size cap, retries');
const local = { allowCidrs: ['127.0.0.1/32'] };

limits('headers that never come: DEPENDENCY_TIMEOUT (503, Retry-After), retried on GET, not on POST', async () => {
  const server = await localServer(() => { /* never answers */ });
  const { sleeps, sleep } = recordedSleep();
  try {
    await withClient({ ...local, retry: { attempts: 2 } }, { sleep }, async (egress) => {
      const err = await rejection(() => egress.request({ url: `${server.url}/slow`, timeouts: { headersMs: 100 } }));
      assertCode(err, 'DEPENDENCY_TIMEOUT', 503);
      assert.is((err as { headers: Record<string, string> }).headers['Retry-After'], '2');
      assert.is((err as { errorDetails: { phase: string } }).errorDetails.phase, 'headers');
      assert.equal(server.seen, ['GET /slow', 'GET /slow'], 'an idempotent GET is tried twice');
      assert.is(sleeps.length, 1);
      await rejection(() =>
        egress.request({ url: `${server.url}/post`, method: 'POST', body: 'x', timeouts: { headersMs: 100 } }),
      );
      assert.is(server.seen.filter((s) => s === 'POST /post').length, 1, 'a POST is never retried');
    });
  } finally {
    await server.close();
  }
});

limits(
  'a connection that cannot be set up in time (here: DNS that never answers): DEPENDENCY_TIMEOUT (connect)',
  async () => {
    const { sleep } = recordedSleep();
    // undici's connect timer is unref'd and a hung lookup holds no handle: keep the loop alive meanwhile.
    const alive = setInterval(() => {}, 1000);
    await withClient(
      { connectTimeoutMs: 100, retry: { attempts: 2 } },
      { resolve: () => new Promise(() => {}), sleep },
      async (egress) => {
        const started = performance.now();
        const err = await rejection(() => egress.request({ url: 'http://hung-dns.example/' }));
        assertCode(err, 'DEPENDENCY_TIMEOUT', 503);
        assert.is((err as { errorDetails: { phase: string } }).errorDetails.phase, 'connect');
        const took = performance.now() - started;
        // undici runs its timeouts on a coarse (about 1 s) timer wheel: bounded, not to the millisecond.
        assert.ok(took < 6000, `two attempts took ${took} ms`);
      },
    ).finally(() => clearInterval(alive));
  },
);

limits('a body that stalls: DEPENDENCY_TIMEOUT (body)', async () => {
  const server = await localServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
  });
  try {
    await withClient(local, {}, async (egress) => {
      const err = await rejection(() =>
        egress.request({ url: `${server.url}/`, timeouts: { bodyMs: 100 }, retries: 0 }),
      );
      assertCode(err, 'DEPENDENCY_TIMEOUT', 503);
      assert.is((err as { errorDetails: { phase: string } }).errorDetails.phase, 'body');
    });
  } finally {
    await server.close();
  }
});

limits('nothing listening: SERVICE_UNAVAILABLE (503), retried with backoff', async () => {
  const server = await localServer(() => {});
  const dead = server.url;
  await server.close();
  const { sleeps, sleep } = recordedSleep();
  await withClient(
    { ...local, retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 150 } },
    { sleep, random: () => 1 },
    async (egress) => {
      const err = await rejection(() => egress.request({ url: `${dead}/` }));
      assertCode(err, 'SERVICE_UNAVAILABLE', 503);
      assert.ok((err as { headers: Record<string, string> }).headers['Retry-After']);
    },
  );
  assert.equal(sleeps, [100, 150], 'exponential, capped by maxDelayMs');
});

limits('a stream left after release() keeps its connection for the next call; left without it, drops it', async () => {
  const ports: number[] = [];
  const open: Array<() => void> = [];
  const server = await localServer((req, res) => {
    ports.push(req.socket.remotePort!);
    res.setHeader('content-type', 'text/event-stream');
    res.write('data: [DONE]\n\n');
    open.push(() => res.end()); // the end comes after the caller left the loop
  });
  const call = async (egress: Egress, release: boolean) => {
    const res = await egress.stream!({ url: `${server.url}/sse`, method: 'POST', json: {} });
    for await (const chunk of res.body) {
      assert.ok(Buffer.from(chunk).toString().includes('[DONE]'));
      if (release) res.release!();
      break;
    }
    open.shift()!();
  };
  try {
    // One connection per origin: a call waits for it, or opens a new one once it is dropped.
    await withClient({ ...local, connectionsPerOrigin: 1 }, {}, async (egress) => {
      await call(egress, true);
      await call(egress, true);
      assert.is(new Set(ports).size, 1, 'drained, the connection served the second call');
      await call(egress, false);
      await call(egress, false);
      assert.is(new Set(ports).size, 2, 'the third dropped it: the fourth opened a new one');
    });
  } finally {
    await server.close();
  }
});

limits(
  'a streamed body over the cap is cut off; a declared Content-Length over the cap is refused at the headers',
  async () => {
    let written = 0;
    let aborted = false;
    const chunk = Buffer.alloc(16 * 1024, 'a');
    const server = await localServer((req, res) => {
      if (req.url === '/declared') {
        res.setHeader('content-length', String(1_000_000));
        res.write(chunk);
        return;
      }
      res.on('close', () => {
        aborted = !res.writableFinished;
      });
      const pump = () => {
        while (written < 50 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    try {
      await withClient({ ...local, maxResponseBytes: 100_000 }, {}, async (egress) => {
        assertCode(
          await rejection(() => egress.request({ url: `${server.url}/stream`, retries: 0 })),
          'EGRESS_RESPONSE_TOO_LARGE',
          502,
        );
        await new Promise((r) => setTimeout(r, 50));
        assert.ok(aborted, 'the connection was dropped');
        assert.ok(written < 50 * 1024 * 1024, `the server got to write all of it (${written})`);
        assertCode(
          await rejection(() => egress.request({ url: `${server.url}/declared`, retries: 0 })),
          'EGRESS_RESPONSE_TOO_LARGE',
          502,
        );
      });
    } finally {
      await server.close();
    }
  },
);

limits('503 with Retry-After, then 200: retried after the hinted delay; 429 with an HTTP date too', async () => {
  let hits = 0;
  const server = await localServer((req, res) => {
    hits++;
    if (req.url === '/flaky' && hits === 1) {
      res.statusCode = 503;
      res.setHeader('retry-after', '1');
      return res.end('busy');
    }
    if (req.url === '/dated' && hits === 1) {
      res.statusCode = 429;
      res.setHeader('retry-after', new Date(Date.now() + 3000).toUTCString());
      return res.end();
    }
    if (req.url === '/forever') { res.statusCode = 503; res.setHeader('retry-after', '3600'); return res.end(); }
    res.end(`ok after ${hits}`);
  });
  const { sleeps, sleep } = recordedSleep();
  try {
    await withClient(local, { sleep }, async (egress) => {
      const res = await egress.request({ url: `${server.url}/flaky` });
      assert.is(res.status, 200);
      assert.is(res.text(), 'ok after 2');
      assert.is(res.attempts, 2);
      assert.equal(sleeps, [1000]);

      hits = 0;
      const dated = await egress.request({ url: `${server.url}/dated` });
      assert.is(dated.status, 200);
      assert.ok(sleeps[1] > 1000 && sleeps[1] <= 3000, `slept ${sleeps[1]} for a date 3 s ahead`);

      // Longer than maxRetryAfterMs: not waited for, the 503 comes back.
      const forever = await egress.request({ url: `${server.url}/forever` });
      assert.is(forever.status, 503);
      assert.is(forever.attempts, 1);
      assert.is(sleeps.length, 2);

      // A POST is not retried unless the caller says it is idempotent.
      hits = 0;
      assert.is((await egress.request({ url: `${server.url}/flaky`, method: 'POST' })).status, 503);
      hits = 0;
      const keyed = await egress.request({
        url: `${server.url}/flaky`,
        method: 'POST',
        idempotent: true,
        headers: { 'Idempotency-Key': 'k1' },
      });
      assert.is(keyed.status, 200);
      assert.is(keyed.attempts, 2);
    });
  } finally {
    await server.close();
  }
});

limits('retryAfterMs reads seconds and HTTP dates', () => {
  assert.is(retryAfterMs('0', 0), 0);
  assert.is(retryAfterMs(' 7 ', 0), 7000);
  assert.is(retryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
  assert.is(retryAfterMs(new Date(1000).toUTCString(), 4000), 0);
  assert.is(retryAfterMs('soon', 0), undefined);
  assert.is(retryAfterMs(undefined, 0), undefined);
});

limits.run();

// ---------------------------------------------------------------- a public host (nock), metrics, boot

const wiring = suite('egress: public host (nock), call events, kernel wiring');

wiring('a public vendor API through nock: JSON, a retried 503, and a redirect to metadata refused', async () => {
  const dispatcherKey = Symbol.for('undici.globalDispatcher.1');
  const saved = (globalThis as Record<symbol, unknown>)[dispatcherKey];
  const { default: nock } = await import('nock');
  if (!nock.isActive()) nock.activate();
  const { getGlobalDispatcher } = await import('undici');
  try {
    nock.disableNetConnect();
    const vendor = nock('https://api.vendor.example')
      .get('/v1/models').query({ page: '1' }).reply(200, { data: [{ id: 'm1' }] })
      .post('/v1/jobs', { prompt: 'hi' }).reply(503, 'busy', { 'Retry-After': '0' })
      .post('/v1/jobs', { prompt: 'hi' }).reply(201, { id: 'job1' })
      .get('/v1/leak').reply(302, '', { Location: 'http://169.254.169.254/latest/meta-data/' });
    const metadata = nock('http://169.254.169.254').get(/.*/).reply(200, 'SECRET-CREDENTIALS');
    const { sleeps, sleep } = recordedSleep();
    await withClient({}, { dispatcher: getGlobalDispatcher(), sleep }, async (egress) => {
      const models = await egress.request({ url: 'https://api.vendor.example/v1/models?page=1' });
      assert.equal(models.json(), { data: [{ id: 'm1' }] });
      const job = await egress.request({ url: 'https://api.vendor.example/v1/jobs', method: 'POST', json: { prompt: 'hi' }, idempotent: true });
      assert.is(job.status, 201);
      assert.is(job.attempts, 2);
      assert.equal(sleeps, [0]);
      assertCode(await rejection(() => egress.request({ url: 'https://api.vendor.example/v1/leak', followRedirects: 2 })), 'EGRESS_BLOCKED', 400);
    });
    assert.ok(vendor.isDone(), `pending: ${vendor.pendingMocks().join(', ')}`);
    assert.not.ok(metadata.isDone(), 'the metadata endpoint was never called');
  } finally {
    nock.cleanAll();
    nock.enableNetConnect();
    nock.restore();
    if (saved === undefined) delete (globalThis as Record<symbol, unknown>)[dispatcherKey];
    else (globalThis as Record<symbol, unknown>)[dispatcherKey] = saved;
  }
});

wiring(
  `every call is published on "${EGRESS_CALL_CHANNEL}" with method, host, status, outcome, duration; no path or query`,
  async () => {
    const server = await localServer((req, res) => {
      res.statusCode = req.url?.startsWith('/missing') ? 404 : 200;
      res.end();
    });
    const events: EgressCallEvent[] = [];
    const listener = (e: unknown) => events.push(e as EgressCallEvent);
    subscribe(EGRESS_CALL_CHANNEL, listener);
    try {
      await withClient(local, {}, async (egress) => {
        await egress.request({ url: `${server.url}/ok?token=SECRET` });
        await egress.request({ url: `${server.url}/missing`, method: 'delete' });
        await rejection(() => egress.request({ url: 'http://10.0.0.1/' }));
        await rejection(() => egress.request({ url: 'gopher://example.com/' }));
      });
    } finally {
      unsubscribe(EGRESS_CALL_CHANNEL, listener);
      await server.close();
    }
    const host = new URL(server.url).host;
    assert.equal(
      events.map(({ durationMs: _d, ...e }) => e),
      [
        { method: 'GET', host, attempts: 1, redirects: 0, outcome: 'ok', status: 200 },
        { method: 'DELETE', host, attempts: 1, redirects: 0, outcome: 'http_error', status: 404 },
        { method: 'GET', host: '10.0.0.1', attempts: 1, redirects: 0, outcome: 'blocked' },
        { method: 'GET', host: '', attempts: 0, redirects: 0, outcome: 'invalid' },
      ],
    );
    assert.ok(events.every((e) => e.durationMs >= 0));
    assert.not.match(JSON.stringify(events), /SECRET|\/ok/);
  },
);

wiring('config: the adapter options schema fills defaults and refuses unknown keys', () => {
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
  const validate = ajv.compile(undiciEgress.optionsSchema);
  const options: Record<string, unknown> = {};
  assert.ok(validate(options), JSON.stringify(validate.errors));
  assert.equal(options, {
    connectTimeoutMs: 5000,
    headersTimeoutMs: 15_000,
    bodyTimeoutMs: 30_000,
    maxResponseBytes: 10_485_760,
    maxRedirects: 5,
    retry: { attempts: 3, baseDelayMs: 200, maxDelayMs: 5000, maxRetryAfterMs: 10_000 },
    ssrfGuard: true,
    allowCidrs: [],
    keepAliveTimeoutMs: 4000,
    connectionsPerOrigin: 32,
  });
  assert.not.ok(validate({ followRedirects: true }));
  assert.not.ok(validate({ retry: { attempts: 0 } }));
});

wiring('kernel: egress is on by default and a plugin resolves it from its container', async () => {
  const server = await localServer((_req, res) => res.end('from plugin'));
  const k = await startKernel({ adapters: { egress: { use: 'undici', allowCidrs: ['127.0.0.1/32'] } } });
  try {
    assert.is(loadConfig({ env: {}, overrides: {} }).adapters.egress.use, 'undici', 'on in config/default.yaml');
    const egress = k.kernel.runtimes.get('notes')!.container.resolve<Egress>('egress');
    assert.is((await egress.request({ url: `${server.url}/x` })).text(), 'from plugin');
    assertCode(await rejection(() => egress.request({ url: 'http://192.168.0.1/' })), 'EGRESS_BLOCKED', 400);
  } finally {
    await k.stop();
    await server.close();
  }
});

wiring('the span of each call (the telemetry decorator) gets method, host, status, attempts and outcome', async () => {
  // A provider of our own, not the global one: another kernel in this process may hold that.
  const { context } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } =
    await import('@opentelemetry/sdk-trace-base');
  const exporter = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
    'egress-test',
  );
  const registered = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const server = await localServer((_req, res) => { res.statusCode = 201; res.end(); });
  try {
    await withClient(local, {}, async (egress) => {
      const traced = (name: string, run: () => Promise<unknown>) =>
        tracer.startActiveSpan(name, async (span) => {
          try {
            await run();
          } catch {
            /* asserted below */
          } finally {
            span.end();
          }
        });
      await traced('ok', () => egress.request({ url: `${server.url}/x`, method: 'put' }));
      await traced('blocked', () => egress.request({ url: 'http://[::1]/' }));
    });
  } finally {
    if (registered) context.disable();
    await server.close();
  }
  const [ok, blocked] = exporter.getFinishedSpans();
  assert.equal(ok.attributes, {
    'http.request.method': 'PUT',
    'server.address': new URL(server.url).host,
    'egress.attempts': 1,
    'egress.redirects': 0,
    'egress.outcome': 'ok',
    'http.response.status_code': 201,
  });
  assert.is(blocked.attributes['egress.outcome'], 'blocked');
  assert.is(blocked.attributes['server.address'], '[::1]');
});

wiring('plugins reach the network only through the egress port: no fetch or http client in plugins/', async () => {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { ROOT } = await import('../../scripts/paths.ts');
  const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
  const offenders = files(join(ROOT, 'plugins')).filter((f) => /\bfetch\(|from ['"](node:)?https?['"]|from ['"]undici['"]/.test(readFileSync(f, 'utf8')));
  assert.equal(offenders, []);
});

wiring.run();

