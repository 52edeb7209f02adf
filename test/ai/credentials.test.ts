import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { MikroORM } from '@mikro-orm/core';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type TestKit, type SignedInClient } from '../kit/index.ts';
import { startNock, type NockSession } from '../helpers/nockSession.ts';
import { defineAdapter } from '../../kernel/ports/adapter.ts';
import { unscoped } from '../../kernel/index.ts';
import type { Egress } from '../../kernel/ports/egress.ts';
import { createUndiciEgress } from '../../adapters/egress/undiciClient.ts';
import { envelopeSecrets } from '../../kernel/secrets/envelope.ts';
import { resealCredentials, sealContext } from '../../plugins/aiapi/credentials.ts';

const test = guarded(suite('aiapi: users\' own vendor keys'));
const KEK1 = randomBytes(32);
const USER_KEY = 'sk-users-own-key-abcd1234WXYZ';

let session: NockSession | undefined;
const nockedEgress = defineAdapter<Egress>({
  port: 'egress', name: 'nocked', optionsSchema: { type: 'object' },
  create: (_o, ctx) => createUndiciEgress({}, ctx, { dispatcher: session!.dispatcher }),
});
let k: TestKit;
let alice: SignedInClient;

test.before(async () => {
  session = await startNock();
  k = await startTestKernel({
    adapters: { egress: { nocked: nockedEgress } },
    config: {
      secrets: { keys: [{ id: 'k1', secret: KEK1.toString('base64') }] },
      adapters: {
        egress: { use: 'nocked' },
        aiProvider: { use: 'gateway', providers: {
          openai: { adapter: 'openai', apiKey: 'sk-deployment' }, local: { adapter: 'local' },
        } },
      },
    },
  });
  alice = await k.asUser('keys');
});
test.after(async () => {
  await k?.stop();
  session?.stop();
});

type Row = { id: string; sealedKey: string; ownerId: string };
const rowOf = async (id: string) => {
  const orm = k.kernel.root.resolve<MikroORM>('orm');
  return (await unscoped(orm.em.fork()).findOneOrFail('AiCredential', { id })) as unknown as Row;
};

test('stored sealed, returned only as a hint; listed for the owner only; vendor must be a configured one', async () => {
  const made = await alice.post('/v1/ai/credentials', { vendor: 'openai', label: 'mine', apiKey: USER_KEY });
  assert.is(made.status, 201, made.text);
  assert.is(made.body.hint, '...WXYZ');
  assert.not.ok(JSON.stringify(made.body).includes(USER_KEY.slice(0, -4)), 'never returned whole');
  assert.is(made.headers.get('cache-control'), 'no-store');
  const row = await rowOf(made.body.id);
  assert.ok(row.sealedKey.startsWith('sk1.k1.'), 'AES-256-GCM envelope under the configured KEK');
  assert.not.ok(row.sealedKey.includes(USER_KEY));
  assert.is(row.ownerId, alice.id);
  const listed = await alice.get('/v1/ai/credentials');
  assert.equal(listed.body.data.map((c: { id: string }) => c.id), [made.body.id]);
  assert.not.ok(listed.text.includes(USER_KEY));

  const bob = await k.asUser('keys-other');
  assert.equal((await bob.get('/v1/ai/credentials')).body.data, []);
  assert.is((await bob.post(`/v1/ai/credentials/${made.body.id}/test`)).status, 404);
  assert.is((await bob.delete(`/v1/ai/credentials/${made.body.id}`)).status, 404);

  const unknown = await alice.post('/v1/ai/credentials', { vendor: 'nope', apiKey: USER_KEY });
  assert.is(unknown.status, 400);
  assert.match(unknown.text, 'openai');
  assert.is((await alice.post('/v1/ai/credentials', { vendor: 'local', apiKey: USER_KEY })).status, 400,
    'the stand-in takes no key');
  assert.is((await alice.post('/v1/ai/credentials', { vendor: 'openai' })).status, 400);
});

test('test: one-token call through the openai adapter with the user\'s key: ok, or the vendor\'s error', async () => {
  const made = (await alice.post('/v1/ai/credentials', { vendor: 'openai', apiKey: USER_KEY })).body;
  const bodies: Array<Record<string, unknown>> = [];
  session!.nock('https://api.openai.com')
    .post('/v1/chat/completions', (b: Record<string, unknown>) => { bodies.push(b); return true; })
    .matchHeader('authorization', `Bearer ${USER_KEY}`)
    .reply(200, { id: 'chatcmpl-1', model: 'gpt-4o-mini', choices: [{ index: 0,
      message: { role: 'assistant', content: 'p' }, finish_reason: 'length' }],
    usage: { prompt_tokens: 8, completion_tokens: 1, total_tokens: 9 } });
  const ok = await alice.post(`/v1/ai/credentials/${made.id}/test`);
  assert.is(ok.status, 200, ok.text);
  assert.is(ok.body.ok, true);
  assert.is(ok.body.model, 'gpt-4o-mini', 'the vendor\'s cheapest text model');
  assert.is(bodies[0].max_completion_tokens, 1, 'a cheap call: one output token');

  session!.nock('https://api.openai.com').post('/v1/chat/completions')
    .matchHeader('authorization', `Bearer ${USER_KEY}`)
    .reply(401, { error: { message: 'Incorrect API key provided: sk-users***WXYZ.', type: 'invalid_request_error',
      param: null, code: 'invalid_api_key' } });
  const refused = await alice.post(`/v1/ai/credentials/${made.id}/test`);
  assert.is(refused.status, 200, refused.text);
  assert.is(refused.body.ok, false);
  assert.is(refused.body.error.kind, 'auth');
  assert.is(refused.body.error.vendorStatus, 401);
  const listed = (await alice.get('/v1/ai/credentials')).body.data.find((c: { id: string }) => c.id === made.id);
  assert.is(listed.lastTestOk, false);
  assert.ok(listed.lastTestedAt);
  assert.not.ok(k.errors.join('\n').includes(USER_KEY), 'the key is in no log line');
  assert.is((await alice.delete(`/v1/ai/credentials/${made.id}`)).status, 204);
  assert.is((await alice.post(`/v1/ai/credentials/${made.id}/test`)).status, 404);
});

test('isDefault: one default per vendor; a second default replaces the first', async () => {
  const carol = await k.asUser('keys-default');
  const a = (await carol.post('/v1/ai/credentials', { vendor: 'openai', apiKey: 'sk-first-key-1111', isDefault: true }))
    .body;
  const b = (await carol.post('/v1/ai/credentials', { vendor: 'openai', apiKey: 'sk-other-key-2222', isDefault: true }))
    .body;
  const list = (await carol.get('/v1/ai/credentials')).body.data as Array<{ id: string; isDefault: boolean }>;
  assert.equal(list.filter((c) => c.isDefault).map((c) => c.id), [b.id]);
  assert.ok(list.some((c) => c.id === a.id && !c.isDefault));
});

test('rotation: keys sealed under a retired KEK are sealed again under the active one, and still open', async () => {
  const made = (await alice.post('/v1/ai/credentials', { vendor: 'openai', apiKey: USER_KEY })).body;
  const orm = k.kernel.root.resolve<MikroORM>('orm');
  const KEK2 = randomBytes(32);
  const rotated = envelopeSecrets(new Map([['k1', KEK1], ['k2', KEK2]]), 'k2');
  const count = await resealCredentials(orm, rotated);
  assert.ok(count >= 1);
  const row = await rowOf(made.id);
  assert.ok(row.sealedKey.startsWith('sk1.k2.'), row.sealedKey.slice(0, 8));
  assert.is(rotated.open(row.sealedKey, sealContext(row.ownerId, row.id)), USER_KEY);
  const onlyNew = envelopeSecrets(new Map([['k2', KEK2]]), 'k2');
  assert.is(onlyNew.open(row.sealedKey, sealContext(row.ownerId, row.id)), USER_KEY, 'k1 may now be retired');
  assert.throws(() => onlyNew.open(row.sealedKey, sealContext('someone-else', row.id)), 'bound to its owner and row');
  assert.is(await resealCredentials(orm, rotated), 0, 'nothing left to re-seal');
});

test.run();
