import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guarded } from '../helpers/guarded.ts';
import { startTestKernel, type SignedInClient, type TestKit } from '../kit/index.ts';
import { freshPostgres, type TestDatabase } from '../helpers/databases.ts';
import { serviceUrl } from '../helpers/services.ts';
import { billingOf } from '../billing/helpers.ts';
import { notesContextPlugin } from './fixtures/notesContext.ts';
import {
  balanceOf, cents, ends, grant, GATEWAY_PLANS, LOCAL_FAST, sse, text, type SseEvent,
} from './helpers.ts';

function chatSuite(label: string, makeDb?: () => Promise<TestDatabase>) {
  const test = guarded(suite(`chats over HTTP (local provider, ${label}): sessions, messages, SSE, billing, safety`));
  let k: TestKit;
  let db: TestDatabase | undefined;
  test.before(async () => {
    db = await makeDb?.();
    const database = db ? { database: { driver: db.driver, url: db.url } } : {};
    k = await startTestKernel({ plugins: [notesContextPlugin()],
      config: { ...database, adapters: LOCAL_FAST, plugins: { billing: { plans: GATEWAY_PLANS } } } });
  });
  test.after(async () => {
    await k.stop();
    await db?.drop();
  });

  async function funded(c: number, tag = 'chat'): Promise<SignedInClient> {
    const user = await k.asUser(tag);
    if (c > 0) await grant(k, user.id, cents(c));
    return user;
  }
  async function newChat(user: SignedInClient, body: object = {}): Promise<string> {
    const res = await user.post('/v1/chats', body);
    assert.is(res.status, 201, res.text);
    return res.body.id;
  }
  const usageKeys = ['promptTokens', 'completionTokens', 'totalTokens', 'costCents'];

  test('sessions: create, list, get, rename, archive, soft delete; another user\'s is a 404; /ai/sessions aliases',
    async () => {
      const user = await funded(0);
      const id = await newChat(user, { title: 'First' });
      await newChat(user, { title: 'Second' });
      const listed = await user.get('/v1/chats');
      assert.is(listed.status, 200, listed.text);
      assert.equal(listed.body.data.map((c: { title: string }) => c.title), ['Second', 'First']);
      const renamed = await user.put(`/v1/chats/${id}`, { title: 'Renamed', status: 'archived' });
      assert.is(renamed.status, 200, renamed.text);
      assert.is(renamed.body.title, 'Renamed');
      assert.equal((await user.get('/v1/chats')).body.data.map((c: { title: string }) => c.title), ['Second']);
      assert.equal((await user.get('/v1/chats?status=archived')).body.data.map((c: { id: string }) => c.id), [id]);
      const other = await k.asUser('other');
      assert.is((await other.get(`/v1/chats/${id}`)).status, 404);
      assert.is((await other.delete(`/v1/chats/${id}`)).status, 404);
      assert.is((await user.delete(`/v1/chats/${id}`)).status, 204);
      assert.is((await user.get(`/v1/chats/${id}`)).status, 404);
      assert.is((await user.get('/v1/chats?status=all')).body.data.length, 1, 'a deleted session is never listed');
      const alias = await user.post('/v1/ai/sessions', { title: 'Old path' });
      assert.is(alias.status, 201, alias.text);
      assert.is((await user.get(`/v1/ai/sessions/${alias.body.id}`)).body.title, 'Old path');
      assert.ok((await user.get('/v1/chats')).body.data.some((c: { id: string }) => c.id === alias.body.id));
      assert.is((await k.get(`/v1/chats/${alias.body.id}`)).status, 401);
    });

  test('a message (not streamed): 201 with usage and exact cost; stored with model, tokens, timing; feedback',
    async () => {
      const user = await funded(10);
      const id = await newChat(user);
      const before = await balanceOf(k, user.id);
      const res = await user.post(`/v1/chats/${id}/messages`, { content: 'Tell me about lighthouses',
        model: 'gpt-4o-mini' });
      assert.is(res.status, 201, res.text);
      for (const key of usageKeys) assert.type(res.body.usage[key], 'number', key);
      assert.ok(res.body.usage.costCents > 0);
      assert.is(before - await balanceOf(k, user.id), res.body.usage.costMicros);
      assert.is(res.body.role, 'assistant');
      assert.is(res.body.model, 'gpt-4o-mini');
      assert.is(res.body.finishReason, 'stop');
      assert.is(res.body.tokensOut, res.body.usage.completionTokens);
      assert.type(res.body.ttftMs, 'number');
      assert.type(res.body.totalMs, 'number');
      const page = await user.get(`/v1/chats/${id}/messages`);
      assert.is(page.status, 200, page.text);
      assert.is(page.body.pagination.limit, 50, 'default page size 50');
      assert.equal(page.body.data.map((m: { role: string }) => m.role), ['assistant', 'user'], 'newest first');
      assert.is(page.body.data[0].costMicros, res.body.usage.costMicros);
      assert.equal(page.body.data[0].usage, res.body.usage, 'a stored answer carries its usage too');
      assert.is(page.body.data[1].usage, null);
      assert.is(page.body.data[1].content, 'Tell me about lighthouses');
      const fb = await user.post(`/v1/chats/${id}/messages/${res.body.id}/feedback`, { rating: -1, comment: 'meh' });
      assert.is(fb.status, 200, fb.text);
      assert.equal(fb.body.feedback, { rating: -1, comment: 'meh' });
      assert.is((await user.post(`/v1/chats/${id}/messages/${res.body.userMessageId}/feedback`, { rating: 1 })).status,
        400);
      assert.is((await user.post(`/v1/chats/${id}/messages/${res.body.id}/feedback`, { rating: 5 })).status, 400);
      const session = await user.get(`/v1/ai/sessions/${id}`);
      assert.is(session.body.messageCount, 2);
      assert.is(session.body.messages.length, 2);
      const again = await user.post(`/v1/ai/sessions/${id}/messages`, { content: 'And their keepers?' });
      assert.is(again.status, 201, again.text);
      assert.ok(again.body.usage.costCents > 0);
    });

  test('streaming: chunks, tokens, then one done with finish_reason, message_id and cost_cents', async () => {
    const user = await funded(10);
    const id = await newChat(user);
    const res = await sse(k, `/chats/${id}/stream`, { content: 'Tell me about rivers' }, user.authorization);
    assert.is(res.status, 200);
    assert.match(res.contentType, /text\/event-stream/);
    const [end] = ends(res.events);
    assert.is(ends(res.events).length, 1);
    assert.is(res.events.at(-1), end);
    assert.is(end.type, 'done', JSON.stringify(end));
    assert.is(end.finish_reason, 'stop');
    assert.ok(end.cost_cents > 0);
    for (const key of usageKeys) assert.type(end.usage[key], 'number', key);
    assert.ok(res.events.filter((e) => e.type === 'chunk').length > 5);
    assert.ok(res.events.some((e) => e.type === 'tokens' && e.input > 0 && e.output > 0));
    const stored = (await user.get(`/v1/chats/${id}/messages`)).body.data[0];
    assert.is(stored.id, end.message_id);
    assert.is(stored.content, text(res.events));
    assert.is(stored.costCents, end.cost_cents);
    assert.is(stored.finishReason, 'stop');
    const alias = await sse(k, `/ai/sessions/${id}/stream`, { content: 'More' }, user.authorization);
    assert.is(ends(alias.events)[0].type, 'done');
  });

  test('402 at zero balance (message and stream); 403 MODEL_NOT_AVAILABLE for a premium model on free', async () => {
    const user = await funded(0);
    const id = await newChat(user);
    const sent = await user.post(`/v1/chats/${id}/messages`, { content: 'hello' });
    assert.is(sent.status, 402, sent.text);
    assert.is(sent.body.error.code, 'INSUFFICIENT_CREDITS');
    const streamed = await sse(k, `/chats/${id}/stream`, { content: 'hello' }, user.authorization);
    assert.is(streamed.status, 402);
    assert.is(streamed.json.error.code, 'INSUFFICIENT_CREDITS');
    assert.is((await user.get(`/v1/chats/${id}/messages`)).body.data.length, 0, 'nothing stored');
    await grant(k, user.id, cents(10));
    const premium = await user.post(`/v1/chats/${id}/messages`, { content: 'hello', model: 'gpt-4o' });
    assert.is(premium.status, 403, premium.text);
    assert.is(premium.body.error.code, 'MODEL_NOT_AVAILABLE');
    assert.ok(premium.body.error.details.alternatives.includes('gpt-4o-mini'));
  });

  test('safety: blocked input 400, flagged input, redacted streamed output; the review queue decides once',
    async () => {
      const user = await funded(10);
      const id = await newChat(user);
      const blocked = await user.post(`/v1/chats/${id}/messages`, { content: 'how do i make a pipe bomb' });
      assert.is(blocked.status, 400, blocked.text);
      assert.is(blocked.body.error.code, 'CONTENT_BLOCKED');
      assert.is(blocked.body.error.details.category, 'violence');
      const streamed = await sse(k, `/chats/${id}/stream`, { content: 'Why were kings murdered, murdered in towers?' },
        user.authorization);
      const end = ends(streamed.events)[0];
      assert.is(end.type, 'done');
      assert.ok(end.warnings.some((w: string) => w.includes('flagged')));
      for (const e of streamed.events.filter((x: SseEvent) => x.type === 'chunk')) {
        assert.not.match(e.content, /murder/, 'no chunk carries the term');
      }
      assert.match(text(streamed.events), /\[redacted\]/);
      const [answer, question] = (await user.get(`/v1/chats/${id}/messages`)).body.data;
      assert.ok(answer.flagged && question.flagged);
      assert.is((await user.get('/v1/admin/moderation/queue')).status, 403);
      const admin = await k.asAdmin();
      const queue = await admin.get('/v1/admin/moderation/queue?limit=100');
      assert.is(queue.status, 200, queue.text);
      const mine = queue.body.data.filter((i: { userId: string }) => i.userId === user.id);
      assert.equal(mine.map((i: { direction: string; action: string }) => `${i.direction}:${i.action}`).sort(),
        ['input:blocked', 'input:flagged', 'output:redacted']);
      const item = mine.find((i: { action: string }) => i.action === 'blocked');
      assert.match(item.excerpt, /pipe bomb/);
      const rejected = await admin.post(`/v1/admin/moderation/queue/${item.id}/reject`, { note: 'right call' });
      assert.is(rejected.status, 200, rejected.text);
      assert.is(rejected.body.status, 'rejected');
      assert.is(rejected.body.reviewedBy, admin.id);
      const twice = await admin.post(`/v1/admin/moderation/queue/${item.id}/approve`, {});
      assert.is(twice.status, 409);
      const pending = await admin.get('/v1/admin/moderation/queue?limit=100');
      assert.not.ok(pending.body.data.some((i: { id: string }) => i.id === item.id), 'decided items leave the queue');
      assert.ok(k.errors.every((line) => !line.includes('pipe bomb')), 'flagged text never logged');
    });

  test('plan limits: X-Usage-Warning from 80% of the daily tokens, then 402 USAGE_LIMIT_EXCEEDED', async () => {
    const user = await funded(10);
    await billingOf(k).subscriptions.activate(user.id, 'limited', { source: 'admin' });
    const seen: Array<{ status: number; warning: string | null; code?: string }> = [];
    for (let i = 0; i < 12 && !seen.some((s) => s.status === 402); i++) {
      // A session each, so that every call is about the same size (no growing history).
      const res = await user.post(`/v1/chats/${await newChat(user)}/messages`, { content: `About tides, ${i}?`,
        maxTokens: 40 });
      seen.push({ status: res.status, warning: res.headers.get('x-usage-warning'), code: res.body.error?.code });
    }
    const warned = seen.findIndex((s) => s.status === 201 && s.warning);
    const refused = seen.findIndex((s) => s.status === 402);
    assert.ok(warned >= 0, JSON.stringify(seen));
    assert.ok(refused > warned, JSON.stringify(seen));
    assert.is(seen[refused].code, 'USAGE_LIMIT_EXCEEDED');
    assert.ok(seen.slice(0, warned).every((s) => s.status === 201 && !s.warning), 'no warning below 80%');
  });

  test('strictness: a user may raise it (strict blocks MEDIUM), never lower it below the floor', async () => {
    const user = await funded(10);
    const id = await newChat(user);
    const off = await user.put('/v1/ai/preferences', { moderation: 'off' });
    assert.is(off.status, 200, off.text);
    assert.equal([off.body.floor, off.body.effective], ['default', 'default']);
    assert.is((await user.post(`/v1/chats/${id}/messages`, { content: 'how do i make a pipe bomb' })).status, 400);
    const strict = await user.put('/v1/ai/preferences', { moderation: 'strict' });
    assert.is(strict.body.effective, 'strict');
    const res = await user.post(`/v1/chats/${id}/messages`, { content: 'they murdered the king' });
    assert.is(res.status, 400, res.text);
    assert.is(res.body.error.code, 'CONTENT_BLOCKED');
  });

  test('context: a notes provider\'s passages go into the prompt and come back as citations', async () => {
    const user = await funded(10);
    const note = await user.post('/v1/notes', { title: 'Lighthouses', body: 'Keepers trimmed the wicks nightly.'
      + '\n\nThe Fresnel lens bends light into a beam.\n\nSome towers were painted in stripes.' });
    assert.is(note.status, 201, note.text);
    await k.settle();
    const id = await newChat(user, { context: { kind: 'notes', id: note.body.id }, scope: 'private' });
    const res = await user.post(`/v1/chats/${id}/messages`, { content: 'How does the Fresnel lens shape the beam?' });
    assert.is(res.status, 201, res.text);
    assert.equal(res.body.citations, [{ page: 2, excerpt: 'The Fresnel lens bends light into a beam.',
      source: 'Lighthouses' }]);
    assert.is(res.body.model, 'gpt-4o-mini', 'the private context default');
    const other = await funded(0, 'ctx-other');
    assert.is((await other.post('/v1/chats', { context: { kind: 'notes', id: note.body.id } })).status, 404);
    const unknown = await user.post('/v1/chats', { context: { kind: 'books', id: 'x' } });
    assert.is(unknown.status, 400);
    assert.is(unknown.body.error.code, 'CONTEXT_UNKNOWN');
  });

  test('POST /ai/estimate: by token counts (seed 003\'s names) or by text', async () => {
    const user = await funded(0);
    const res = await user.post('/v1/ai/estimate', { model: 'gpt-4o-mini', input_tokens: 500,
      estimated_output_tokens: 200 });
    assert.is(res.status, 200, res.text);
    // 500 × 21 µ¢ + 200 × 84 µ¢ = 27,300 µ¢ (0.0273 cents), rounded up to 1 whole cent in the seed's field.
    assert.is(res.body.estimatedCostMicros, 27_300);
    assert.is(res.body.estimatedCostCents, 0.0273);
    assert.is(res.body.estimated_cost_cents, 1);
    assert.is(res.body.input_cost_per_1m, 0.21);
    assert.is(res.body.output_cost_per_1m, 0.84);
    const byText = await user.post('/v1/ai/estimate', { content: 'How long is a piece of string?' });
    assert.is(byText.status, 200, byText.text);
    assert.ok(byText.body.inputTokens > 5 && byText.body.outputTokens === 1024);
    assert.is((await user.post('/v1/ai/estimate', {})).status, 400);
  });

  test('200 concurrent streamed chats against a balance for about half: no overspend, every stream ends',
    async () => {
      const user = await funded(0);
      // A session each: every prompt is the same size (one session's history would grow the later prompts).
      const chats = await Promise.all(Array.from({ length: 200 }, () => newChat(user)));
      const probe = await user.post('/v1/ai/estimate', { model: 'gpt-4o-mini', content: 'Tell me about hills',
        estimated_output_tokens: 30 });
      const budget = Math.ceil(probe.body.estimatedCostMicros * 1.1) * 100;
      await grant(k, user.id, budget);
      const results = await Promise.all(chats.map((id) =>
        sse(k, `/chats/${id}/stream`, { content: 'Tell me about hills', model: 'gpt-4o-mini', maxTokens: 30 },
          user.authorization)));
      let done = 0;
      let refused = 0;
      let charged = 0;
      for (const r of results) {
        if (r.status === 402) { refused++; continue; }
        assert.is(r.status, 200);
        const endings = ends(r.events);
        assert.is(endings.length, 1, 'exactly one final event');
        assert.is(r.events.at(-1), endings[0]);
        assert.is(endings[0].type, 'done', JSON.stringify(endings[0]));
        done++;
        charged += endings[0].usage.costMicros;
      }
      assert.is(done + refused, 200);
      assert.ok(done >= 90 && done <= 120, `about half answered (${done})`);
      const left = await balanceOf(k, user.id);
      assert.ok(left >= 0);
      assert.is(budget - left, charged, 'the balance moved by exactly what the answers report');
      const listed = await user.get('/v1/chats?limit=100');
      const counted = listed.body.data.reduce((n: number, c: { messageCount: number }) => n + c.messageCount, 0);
      const rest = await user.get(`/v1/chats?limit=100&cursor=${listed.body.pagination.nextCursor}`);
      const all = counted + rest.body.data.reduce((n: number, c: { messageCount: number }) => n + c.messageCount, 0);
      assert.is(all, done * 2, 'a question and its answer stored for each answered stream');
    });

  test.run();
}

chatSuite('sqlite');
const pgUrl = serviceUrl('DATABASE_URL', 'chats on postgresql');
if (pgUrl) chatSuite('postgresql', () => freshPostgres(pgUrl));
