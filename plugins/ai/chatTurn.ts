/**
 * One turn of a chat: the conversation so far plus the context provider's passages make the prompt; the gateway
 * answers (billed, moderated); the user's message and the answer are stored in the same unit of work as the
 * gateway's usage event. Streamed: the answer goes out as SSE while it is made, and the messages are stored before
 * the final `done` (so its `message_id` exists) — or, when the client left, stored anyway with what was made.
 */
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Context as KoaContext } from 'koa';
import type { Logger } from 'pino';
import {
  AppError, reply, type ChatMessage, type Clock, type IdGenerator, type Principal, type Reply,
} from '../../kernel/index.ts';
import type {
  AiGateway, ContextRegistry, GatewayChatCall, GatewayChatResult, GatewayStreamEvent, UserKey,
} from './api.ts';
import { messageView, type ChatStore } from './chats.ts';
import type { Schemas } from './contract.gen.ts';
import type { AiChatMessageRow, AiChatRow } from './entities.ts';
import type { AnswerStreams, SseWriter } from './sse.ts';
import { keyForCall, type KeyDeps } from './userKeys.ts';

const HISTORY = 20;
const PASSAGES = 4;
type Citation = Schemas['Citation'];
type Turn = Schemas['Turn'];

export interface TurnDeps {
  em: EntityManager; orm: MikroORM; ids: IdGenerator; clock: Clock; aiGateway: AiGateway;
  aiContexts: ContextRegistry; chats: ChatStore; log: Logger; answerStreams: AnswerStreams;
  /** The user's own keys (aiapi's resolver, when that plugin is enabled). */
  keys: KeyDeps;
}

interface Prompt {
  chat: AiChatRow; messages: ChatMessage[]; citations: Citation[]; userId: string; ids: TurnIds;
  /** The user's own key for this turn: metered, not charged. */
  userKey?: UserKey;
}
interface TurnIds { user: string; assistant: string }

export class ChatTurns {
  constructor(private d: TurnDeps) {}

  async send(principal: Principal | undefined, chatId: string, turn: Turn, koa: KoaContext):
    Promise<Reply<Schemas['TurnResult']>> {
    const p = await this.prompt(principal, chatId, turn);
    const em = this.d.em;
    const controller = new AbortController();
    koa.res.once('close', () => { if (!koa.res.writableFinished) controller.abort(); });
    try {
      const result = await this.d.aiGateway.chat(this.call(principal!, p, turn, em, controller.signal));
      const answer = await this.store(em, p, turn, result);
      await em.flush();
      return reply(201, { ...messageView(answer), usage: publicUsage(result), warnings: result.warnings,
        userMessageId: p.ids.user }, result.headers);
    } catch (err) {
      await em.flush(); // the gateway staged its (failed) usage event here
      throw err;
    }
  }

  async stream(principal: Principal | undefined, chatId: string, turn: Turn, koa: KoaContext): Promise<Reply<never>> {
    const p = await this.prompt(principal, chatId, turn);
    const em = this.d.orm.em.fork(); // outlives the handler: the answer is stored after it returned
    const controller = new AbortController();
    let ready!: () => void;
    const prepared = new Promise<void>((resolve) => { ready = resolve; });
    const call = { ...this.call(principal!, p, turn, em, controller.signal), onReady: () => ready() };
    const events = this.d.aiGateway.stream(call)[Symbol.asyncIterator]();
    const first = events.next();
    try {
      // Blocked input, 402, 403 reject the first `next()` before `onReady`: a plain HTTP error.
      await Promise.race([prepared, first]);
    } catch (err) {
      await em.flush(); // a blocked input's queue row is the gateway's own; nothing else is staged yet
      throw err;
    }
    // The hold is taken: headers go out now, not with the first token.
    const sse = this.d.answerStreams.open(koa);
    sse.onClose(() => controller.abort());
    void this.pump(first, events, sse, em, p, turn).catch((err) => {
      this.d.log.error({ code: (err as AppError).code ?? (err as Error).name }, 'chat stream failed');
      sse.send({ type: 'error', code: 'INTERNAL_ERROR', message: 'The answer could not be completed' });
      sse.end();
    });
    return sse.reply;
  }

  private async pump(first: Promise<IteratorResult<GatewayStreamEvent>>, events: AsyncIterator<GatewayStreamEvent>,
    sse: SseWriter, em: EntityManager, p: Prompt, turn: Turn): Promise<void> {
    for (let e = value(await first); e; e = value(await events.next())) {
      if (e.type === 'chunk') sse.send({ type: 'chunk', content: e.text });
      else if (e.type === 'tokens') sse.send({ type: 'tokens', input: e.input, output: e.output });
      else if (e.type === 'done') {
        await this.store(em, p, turn, e.result);
        await em.flush();
        sse.send({ type: 'done', finish_reason: e.result.finishReason, message_id: p.ids.assistant,
          cost_cents: e.result.usage.costCents, usage: publicUsage(e.result), citations: p.citations,
          warnings: e.result.warnings, model: e.result.model });
      } else {
        if (e.partial) await this.store(em, p, turn, e.partial);
        await em.flush();
        sse.send({ type: 'error', code: e.code, message: e.message, ...(e.partial ? {
          message_id: p.ids.assistant, cost_cents: e.partial.usage.costCents, usage: publicUsage(e.partial) } : {}) });
      }
    }
    sse.end();
  }

  private async prompt(principal: Principal | undefined, chatId: string, turn: Turn): Promise<Prompt> {
    const chat = await this.d.chats.owned(principal, chatId);
    const history = await this.d.chats.history(chat.id, HISTORY);
    const messages: ChatMessage[] = [];
    const citations: Citation[] = [];
    if (chat.contextKind && chat.contextId) {
      const provider = this.d.aiContexts.get(chat.contextKind);
      if (!provider) {
        throw new AppError(503, 'CONTEXT_UNAVAILABLE', `The ${chat.contextKind} context is not available here`, {
          headers: { 'Retry-After': '30' }, details: { retry_after: 30 } });
      }
      const passages = await provider.passages(principal!, { id: chat.contextId, query: turn.content,
        limit: PASSAGES });
      if (passages.length) {
        messages.push({ role: 'system', content: 'Answer from these passages of the context; cite their pages.\n\n'
          + passages.map((x) => `[page ${x.page ?? '-'}] ${x.text}`).join('\n\n') });
        for (const x of passages) {
          citations.push({ page: x.page, excerpt: x.excerpt ?? x.text.slice(0, 200),
            ...(x.source ? { source: x.source } : {}) });
        }
      }
    }
    for (const m of history) {
      const role = m.role;
      if ((role === 'user' || role === 'assistant') && m.content) messages.push({ role, content: m.content });
    }
    messages.push({ role: 'user', content: turn.content });
    const userKey = await keyForCall(this.d.keys, principal!, { model: turn.model ?? chat.model ?? undefined,
      context: chat.contextScope ?? undefined, task: turn.task, text: turn.content,
      credentialId: turn.credential_id });
    return { chat, messages, citations, userId: chat.userId, userKey,
      ids: { user: this.d.ids.next(), assistant: this.d.ids.next() } };
  }

  private call(principal: Principal, p: Prompt, turn: Turn, em: EntityManager, signal: AbortSignal): GatewayChatCall {
    return { principal, model: turn.model ?? p.chat.model ?? undefined, context: p.chat.contextScope ?? undefined,
      task: turn.task, messages: p.messages, maxTokens: turn.maxTokens, temperature: turn.temperature, signal,
      reference: { kind: 'chat', id: p.ids.assistant }, session: p.chat.id, em, idempotencyKey: p.ids.assistant,
      ...(p.userKey ? { userKey: p.userKey } : {}) };
  }

  /** Stages the user's message and the answer (with what it cost) and touches the session. */
  private async store(em: EntityManager, p: Prompt, turn: Turn, r: GatewayChatResult): Promise<AiChatMessageRow> {
    await em.nativeUpdate<AiChatRow>('AiChat', { id: p.chat.id }, { lastActivityAt: this.d.clock.date() });
    em.create<AiChatMessageRow>('AiChatMessage', {
      id: p.ids.user, chatId: p.chat.id, userId: p.userId, role: 'user', content: turn.content, model: null,
      tokensIn: 0, tokensOut: 0, costMicros: null, finishReason: null, ttftMs: null, totalMs: null,
      flagged: r.flagged?.input ?? false, citations: null,
    } as AiChatMessageRow);
    const answer = em.create<AiChatMessageRow>('AiChatMessage', {
      id: p.ids.assistant, chatId: p.chat.id, userId: p.userId, role: 'assistant', content: r.text, model: r.model,
      tokensIn: r.usage.promptTokens, tokensOut: r.usage.completionTokens, costMicros: r.usage.costMicros,
      tokensEstimated: r.usage.estimated,
      finishReason: r.finishReason, ttftMs: Math.round(r.ttftMs), totalMs: Math.round(r.totalMs),
      flagged: r.flagged?.output ?? false, citations: p.citations,
    } as AiChatMessageRow);
    return answer;
  }
}

const value = (r: IteratorResult<GatewayStreamEvent>) => (r.done ? undefined : r.value);

function publicUsage(r: GatewayChatResult): Schemas['Usage'] {
  const u = r.usage;
  return { promptTokens: u.promptTokens, completionTokens: u.completionTokens, totalTokens: u.totalTokens,
    costCents: u.costCents, costMicros: u.costMicros, estimated: u.estimated };
}
