import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { EventBus } from '../../kernel/ports/eventBus.ts';
import memoryBus from '../../adapters/eventBus/memory.ts';
import { catalogs } from '../../scripts/catalog.ts';
import { CONTRACTS_DIR } from '../../scripts/paths.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request } from '../helpers/kernel.ts';
import { userAuthorization } from '../helpers/signedIn.ts';
import { until } from '../helpers/throwawayRedis.ts';

const s = suite('events: the transactional outbox keeps acknowledged events through a bus outage');

const state = { down: false, published: 0 };
const flakyBus = defineAdapter<EventBus>({
  port: 'eventBus', name: 'flaky', optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  async create(_o, ctx) {
    const inner = (await memoryBus.create({}, ctx)) as EventBus & {
      close?: () => Promise<void>;
      drain: () => Promise<void>;
    };
    return {
      async publish(event) {
        if (state.down) throw Object.assign(new Error('connect ECONNREFUSED broker'), { code: 'ECONNREFUSED' });
        state.published++;
        return inner.publish(event);
      },
      subscribe: (topic, options, handler) => inner.subscribe(topic, options, handler),
      drain: () => inner.drain(),
      close: () => inner.close?.() ?? Promise.resolve(),
    };
  },
});

s('a note created while the bus is down is acknowledged, and its event is delivered once the bus is back', async () => {
  const kernel = await bootCustom({
    // Notes are user-owned: identity signs the caller in.
    plugins: [catalogs.plugins.identity, catalogs.plugins.notes],
    contracts: Object.fromEntries(
      ['identity', 'notes'].map((n) => [n, parse(readFileSync(resolve(CONTRACTS_DIR, `${n}.yaml`), 'utf8'))]),
    ),
    adapters: { eventBus: { flaky: flakyBus } },
    config: { adapters: { eventBus: { use: 'flaky' } } },
  });
  const { port } = await kernel.listen();
  const base = `http://127.0.0.1:${port}`;
  try {
    const headers = await userAuthorization(base);
    await kernel.outbox!.idle();
    state.published = 0;
    // registration's own event is not what this test counts
    await kernel.orm!.em.fork().nativeDelete('KernelOutbox', {});
    state.down = true;
    const created = await request(base, 'POST', '/v1/notes', { body: { title: 'during the outage' }, headers });
    assert.is(created.status, 201, 'acknowledged although the bus is down');
    const em = kernel.orm!.em.fork();
    const pending = await em.find<any>('KernelOutbox', { publishedAt: null });
    assert.is(pending.length, 1);
    assert.is(pending[0].type, 'notes.note.created');
    await kernel.outbox!.idle();
    assert.is((await request(base, 'GET', `/v1/notes/${created.body.id}/activity`, { headers })).body.data.length, 0);

    state.down = false;
    await em.nativeUpdate('KernelOutbox', { publishedAt: null }, { claimedUntil: null }); // skip the retry backoff
    kernel.outbox!.kick();
    await until('the activity subscriber to see the event', async () => {
      await kernel.outbox!.idle();
      await (kernel.root.cradle.eventBus as { drain(): Promise<void> }).drain();
      return (await request(base, 'GET', `/v1/notes/${created.body.id}/activity`, { headers })).body.data.length === 1;
    });
    assert.is(await em.fork().count('KernelOutbox', { publishedAt: null }), 0);
    assert.is(state.published, 1, 'published exactly once');
    assert.is(await kernel.outbox!.prune(), 0, 'a fresh published row is kept');
    await em.nativeUpdate('KernelOutbox', {}, { publishedAt: new Date(Date.now() - 25 * 3_600_000) });
    assert.is(await kernel.outbox!.prune(), 1, 'rows published over a day ago are pruned');
  } finally {
    await kernel.stop();
  }
});

s.run();
