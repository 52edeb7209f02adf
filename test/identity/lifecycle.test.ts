import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startIdentity, email } from './helpers.ts';

const s = suite('identity: events are atomic with their changes');

s('with the outbox insert failing, register fails and no user row is committed', async () => {
  const k = await startIdentity();
  try {
    const knex = (k.kernel.orm!.em as any).getConnection().getKnex();
    await knex.schema.renameTable('kernel_outbox', 'kernel_outbox_off');
    const address = email('atomic');
    const res = await k.as(undefined, 'POST', '/v1/auth/register', { name: 'Atomic', email: address, password: 'Passw0rd!x' });
    assert.ok(res.status >= 500, `register failed (${res.status})`);
    const em = k.kernel.orm!.em.fork();
    assert.is(await em.count('IdentityUser', { email: address }), 0, 'no user row without its event');
    assert.is(await em.count('IdentityAudit', { action: 'user.registered', newValues: { $ne: null } } as any), 1, 'only the bootstrap admin registered');
    await knex.schema.renameTable('kernel_outbox_off', 'kernel_outbox');
    const again = await k.as(undefined, 'POST', '/v1/auth/register', { name: 'Atomic', email: address, password: 'Passw0rd!x' });
    assert.is(again.status, 201, again.text);
    assert.is(await em.fork().count('KernelOutbox', { type: 'identity.user.registered' }), 2);
  } finally {
    await k.stop();
  }
});

s.run();
