import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import pino from 'pino';
import { definePlugin, reply } from '../../kernel/index.ts';
import { InFlight, type Lifecycle } from '../../kernel/inflight.ts';
import type { Kernel } from '../../kernel/boot.ts';
import { bootCustom } from '../helpers/custom.ts';

/** A promise the test opens by hand. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  return { opened, open };
}

const state = { gate: gate(), started: gate(), outcome: '' };
const reset = () => { state.gate = gate(); state.started = gate(); state.outcome = ''; };
/** After the wait: the database must still be open for this query to succeed. */
async function useDatabase(em: { getConnection(): { execute(sql: string): Promise<unknown> } }) {
  await state.gate.opened;
  await em
    .getConnection()
    .execute('select 1')
    .then(
      () => {
        state.outcome = 'ok';
      },
      (e) => {
        state.outcome = `failed: ${(e as Error).message}`;
      },
    );
}

const held = definePlugin({
  name: 'held', version: '1',
  migrations: [{ name: '0001_nothing', up: async () => {}, down: async () => {} }],
  handlers: {
    'held.wait': async (_req, ctx) => { state.started.open(); await useDatabase(ctx.em); return { ok: true }; },
    'held.later': async (_req, ctx) => {
      const { lifecycle, orm } = ctx.services as { lifecycle: Lifecycle; orm: { em: { fork(): never } } };
      lifecycle.defer('a slow follow-up', () => useDatabase(orm.em.fork()));
      return reply(202, { ok: true });
    },
  },
});
const ok = { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } };
const contract = {
  openapi: '3.1.0', info: { title: 'Held', version: '1' },
  paths: {
    '/held': { get: { operationId: 'held.wait', responses: { 200: ok } } },
    '/held/later': { post: { operationId: 'held.later', responses: { 202: ok } } },
  },
};

function capture() {
  const lines: any[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

async function boot(
  shutdownTimeoutMs: number,
  logger = pino({ level: 'silent' }),
): Promise<{ kernel: Kernel; base: string }> {
  reset();
  const kernel = await bootCustom({
    plugins: [held],
    contracts: { held: contract },
    config: { server: { shutdownTimeoutMs } },
    logger,
  });
  const { port } = await kernel.listen();
  return { kernel, base: `http://127.0.0.1:${port}` };
}

/** Starts `stop()` and returns once the HTTP server has closed: the old code released everything right then. */
async function stopUntilServerClosed(kernel: Kernel) {
  const closed = new Promise((r) => kernel.server!.once('close', r));
  let stopped = false;
  const stopping = kernel.stop().then(() => { stopped = true; });
  await closed;
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r)); // let a premature release run
  return { stopping, stopped: () => stopped };
}

const s = suite('lifecycle: shutdown waits for handlers and deferred work before closing the database');

s('a handler whose client went away still has its database until it finishes', async () => {
  const { kernel, base } = await boot(60_000);
  const abort = new AbortController();
  const request = fetch(`${base}/v1/held`, { signal: abort.signal }).catch(() => 'aborted');
  await state.started.opened;
  abort.abort();
  await request;
  const { stopping, stopped } = await stopUntilServerClosed(kernel);
  assert.is(stopped(), false, 'stop waits for the running handler');
  assert.ok(await kernel.orm!.isConnected(), 'the database is still open');
  state.gate.open();
  await stopping;
  assert.is(state.outcome, 'ok');
});

s('deferred work (lifecycle.defer) runs to the end before resources close; after stop it is refused', async () => {
  const { kernel, base } = await boot(60_000);
  const res = await fetch(`${base}/v1/held/later`, { method: 'POST' });
  assert.is(res.status, 202);
  const { stopping, stopped } = await stopUntilServerClosed(kernel);
  assert.is(stopped(), false, 'stop waits for the deferred task');
  state.gate.open();
  await stopping;
  assert.is(state.outcome, 'ok');
  const lifecycle = kernel.runtimes.get('held')!.container.resolve<Lifecycle>('lifecycle');
  assert.ok(lifecycle.stopping);
  let ran = false;
  lifecycle.defer('too late', async () => { ran = true; });
  await new Promise((r) => setImmediate(r));
  assert.is(ran, false);
});

s('past the hard deadline, resources close and what was cut off is logged', async () => {
  const { lines, logger } = capture();
  const { kernel, base } = await boot(20, logger);
  const request = fetch(`${base}/v1/held`).catch(() => 'cut');
  await state.started.opened;
  await kernel.stop(); // never opened: the handler is still waiting
  const cut = lines.find((l) => l.msg?.includes('cut off'));
  assert.ok(cut, JSON.stringify(lines.map((l) => l.msg)));
  assert.equal(cut.cutOff, { requests: 1 });
  state.gate.open();
  await request;
});

const t = suite('lifecycle: InFlight tracks work until it settles');

t('idle() resolves true once the work settles, false when the deadline comes first', async () => {
  const work = new InFlight(pino({ level: 'silent' }));
  assert.is(await work.idle(new Promise(() => {})), true, 'nothing in flight');
  const a = gate();
  const b = gate();
  work.track('requests', a.opened);
  work.track('requests', b.opened.then(() => { throw new Error('handler failed'); })).catch(() => {});
  assert.equal(work.summary(), { requests: 2 });
  const deadline = gate();
  const early = work.idle(deadline.opened);
  deadline.open();
  assert.is(await early, false);
  const late = work.idle(new Promise(() => {}));
  a.open();
  b.open();
  assert.is(await late, true, 'a rejected task counts as settled');
  assert.is(work.size, 0);
});

s.run();
t.run();
