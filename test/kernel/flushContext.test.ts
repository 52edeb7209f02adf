import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TransactionContext, type FlushEventArgs } from '@mikro-orm/core';
import { flushContextState } from '../../kernel/boot/flushContext.ts';
import { startKernel, type TestKernel } from '../helpers/kernel.ts';

const s = suite("kernel: Node's promise hooks are off between MikroORM flushes (kernel/boot/flushContext.ts)");

/** Init hooks installed process-wide (async_hooks' own counter): 0 means promises pay no hook. */
function initHooks(): number {
  const quiet = process.noDeprecation;
  process.noDeprecation = true; // process.binding warns once; the counter is what Node itself reads
  try {
    const wrap = (process as unknown as { binding(n: string): any }).binding('async_wrap');
    return wrap.async_hook_fields[wrap.constants.kInit];
  } finally {
    process.noDeprecation = quiet;
  }
}

let k: TestKernel;
s.before(async () => {
  k = await startKernel();
});
s.after(async () => {
  await k?.stop();
});

s('after the boot\'s flushes and a request that flushes, no init hook is on and no commit is counted', async () => {
  const res = await k.request('POST', '/v1/auth/register', {
    body: { name: 'Flush Probe', email: 'flush.probe@example.com', password: 'Correct horse battery staple 9!' },
  });
  assert.ok(res.status < 300, `register answered ${res.status}: ${res.text.slice(0, 200)}`);
  const state = flushContextState();
  assert.ok(state.found && state.storageFound, "MikroORM's flush storage was found");
  assert.is(state.running, 0);
  assert.is(initHooks(), 0, 'promise init hooks are off');
});

s('inside a flush the storage still answers: a flush from a flush hook is refused, hooks are on meanwhile',
  async () => {
    const orm = k.kernel.orm!;
    const em = orm.em.fork();
    let during = -1;
    let nested: unknown;
    let armed = true;
    orm.em.getEventManager().registerSubscriber({
      async beforeFlush(args: FlushEventArgs) {
        if (!armed || args.em !== em) return;
        armed = false;
        during = initHooks();
        await null; // across an await: the store must follow the flush's promises
        nested = await args.em.flush().then(() => 'flushed', (e: Error) => e);
      },
    });
    await em.flush();
    assert.ok(during > 0, 'hooks were on during the flush');
    assert.ok(nested instanceof Error, `nested flush: ${String(nested)}`);
    assert.match(String((nested as Error).message), /flush/i);
    assert.is(flushContextState().running, 0);
    assert.is(initHooks(), 0, 'and off again after it');
  });

s('concurrent flushes keep the hooks on until the last one ends', async () => {
  const orm = k.kernel.orm!;
  const a = orm.em.fork();
  const b = orm.em.fork();
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let seenInB = -1;
  orm.em.getEventManager().registerSubscriber({
    async beforeFlush(args: FlushEventArgs) {
      if (args.em === a) await gate; // A holds its flush open
      if (args.em === b) seenInB = initHooks();
    },
  });
  const first = a.flush();
  await b.flush(); // B starts and ends while A is running
  assert.ok(seenInB > 0);
  assert.is(flushContextState().running, 1, 'A is still counted');
  assert.ok(initHooks() > 0, 'hooks stay on while A runs');
  release();
  await first;
  assert.is(flushContextState().running, 0);
  assert.is(initHooks(), 0);
});

s('em.transactional: the callback still finds its fork through the context; hooks are off after it', async () => {
  const orm = k.kernel.orm!;
  let inside: unknown;
  let during = -1;
  await orm.em.fork().transactional(async (em) => {
    await null;
    during = initHooks();
    inside = TransactionContext.getEntityManager();
    assert.ok(inside === em, 'the transaction context holds the fork');
  });
  assert.ok(during > 0, 'hooks were on inside the transaction');
  assert.is(TransactionContext.getEntityManager(), undefined);
  assert.is(flushContextState().transactions, 0);
  assert.is(initHooks(), 0, 'and off after it');
});

s.run();
