/**
 * Chat sessions and their messages (seed 003 FR-AI-010, FR-AI-011, FR-AI-015): a user sees only their own
 * sessions (another's is a 404), a deleted session is never shown again (soft delete: its messages stay for the
 * billing history). Message counts are counted, not stored, so concurrent turns cannot lose one.
 */
import type { EntityManager } from '@mikro-orm/core';
import { AppError, errors, paginate, type Clock, type PageRequest, type Principal } from '../../kernel/index.ts';
import type { ContextRegistry } from './api.ts';
import type { Schemas } from './contract.gen.ts';
import type { AiChatMessageRow, AiChatRow } from './entities.ts';

export type ChatView = Schemas['Chat'];
export type MessageView = Schemas['Message'];
const RECENT = 50;

export function userOf(principal: Principal | undefined): string {
  if (!principal?.id) throw errors.unauthorized();
  return principal.id;
}

export class ChatStore {
  constructor(private em: EntityManager, private clock: Clock, private contexts: ContextRegistry) {}

  /** The caller's live session, or 404 (someone else's, deleted or absent alike). */
  async owned(principal: Principal | undefined, chatId: string): Promise<AiChatRow> {
    const chat = await this.em.findOne<AiChatRow>('AiChat', { id: chatId });
    if (!chat || chat.userId !== userOf(principal) || chat.deletedAt) throw errors.notFound('No such chat');
    return chat;
  }

  async create(principal: Principal | undefined, body: Schemas['ChatCreate'] = {}): Promise<ChatView> {
    const userId = userOf(principal);
    if (body.context) {
      const provider = this.contexts.get(body.context.kind);
      if (!provider) {
        throw new AppError(400, 'CONTEXT_UNKNOWN', `No context provider "${body.context.kind}"`, {
          details: { kinds: this.contexts.kinds() } });
      }
      if (!(await provider.canUse(principal!, body.context.id))) throw errors.notFound('No such context item');
    }
    const now = this.clock.date();
    const chat = this.em.create<AiChatRow>('AiChat', {
      userId, title: body.title ?? 'New chat', contextKind: body.context?.kind ?? null,
      contextId: body.context?.id ?? null, contextScope: body.scope ?? null, model: body.model ?? null,
      status: 'active', lastActivityAt: now, deletedAt: null,
    } as AiChatRow);
    await this.em.flush();
    return chatView(chat, 0);
  }

  async list(principal: Principal | undefined, paging: PageRequest, status: 'active' | 'archived' | 'all') {
    const where: Record<string, unknown> = { userId: userOf(principal), deletedAt: null };
    if (status !== 'all') where.status = status;
    const page = await paginate<AiChatRow, AiChatRow>(this.em, 'AiChat', { request: paging, where, map: (r) => r });
    const counts = await this.counts(page.data.map((c) => c.id));
    return { ...page, data: page.data.map((c) => chatView(c, counts.get(c.id) ?? 0)) };
  }

  async get(principal: Principal | undefined, chatId: string) {
    const chat = await this.owned(principal, chatId);
    const recent = await this.em.find<AiChatMessageRow>('AiChatMessage', { chatId }, {
      orderBy: { id: 'desc' }, limit: RECENT });
    const counts = await this.counts([chat.id]);
    return { ...chatView(chat, counts.get(chat.id) ?? 0), messages: recent.reverse().map(messageView) };
  }

  async update(principal: Principal | undefined, chatId: string, body: Schemas['ChatUpdate']): Promise<ChatView> {
    const chat = await this.owned(principal, chatId);
    if (body.title !== undefined) chat.title = body.title;
    if (body.status !== undefined) chat.status = body.status;
    if (body.model !== undefined) chat.model = body.model;
    await this.em.flush();
    return chatView(chat, (await this.counts([chat.id])).get(chat.id) ?? 0);
  }

  async remove(principal: Principal | undefined, chatId: string): Promise<void> {
    const chat = await this.owned(principal, chatId);
    chat.deletedAt = this.clock.date();
    await this.em.flush();
  }

  async messages(principal: Principal | undefined, chatId: string, paging: PageRequest) {
    await this.owned(principal, chatId);
    return paginate<AiChatMessageRow, MessageView>(this.em, 'AiChatMessage', {
      request: paging, where: { chatId }, map: messageView });
  }

  /** The last `n` messages, oldest first: the conversation a turn continues. */
  async history(chatId: string, n: number): Promise<AiChatMessageRow[]> {
    const rows = await this.em.find<AiChatMessageRow>('AiChatMessage', { chatId }, { orderBy: { id: 'desc' },
      limit: n });
    return rows.reverse();
  }

  async feedback(principal: Principal | undefined, chatId: string, messageId: string,
    body: { rating: 1 | -1; comment?: string }): Promise<MessageView> {
    await this.owned(principal, chatId);
    const message = await this.em.findOne<AiChatMessageRow>('AiChatMessage', { id: messageId, chatId });
    if (!message) throw errors.notFound('No such message');
    if (message.role !== 'assistant') {
      throw new AppError(400, 'FEEDBACK_NOT_ALLOWED', 'Feedback is for the assistant\'s answers');
    }
    message.feedbackRating = body.rating;
    message.feedbackComment = body.comment ?? null;
    await this.em.flush();
    return messageView(message);
  }

  private async counts(chatIds: string[]): Promise<Map<string, number>> {
    if (!chatIds.length) return new Map();
    const rows: Array<{ chat_id: string; n: number | string }> = await this.em.getConnection().execute(
      `select chat_id, count(*) as n from ai_chat_messages where chat_id in (${chatIds.map(() => '?').join(', ')})`
      + ' group by chat_id', chatIds);
    return new Map(rows.map((r) => [r.chat_id, Number(r.n)]));
  }
}

const iso = (d: Date | string) => new Date(d).toISOString();

export function chatView(c: AiChatRow, messageCount: number): ChatView {
  return {
    id: c.id, title: c.title, status: c.status as ChatView['status'],
    context: c.contextKind && c.contextId ? { kind: c.contextKind, id: c.contextId } : null,
    scope: c.contextScope ?? null, model: c.model ?? null, messageCount,
    lastActivityAt: iso(c.lastActivityAt), createdAt: iso(c.createdAt), updatedAt: iso(c.updatedAt),
  };
}

export function messageView(m: AiChatMessageRow): MessageView {
  const micros = m.costMicros === null || m.costMicros === undefined ? null : Number(m.costMicros);
  return {
    id: m.id, chatId: m.chatId, role: m.role as MessageView['role'], content: m.content, model: m.model ?? null,
    tokensIn: m.tokensIn, tokensOut: m.tokensOut, costMicros: micros,
    costCents: micros === null ? null : micros / 1_000_000,
    finishReason: (m.finishReason ?? null) as MessageView['finishReason'], ttftMs: m.ttftMs ?? null,
    totalMs: m.totalMs ?? null, flagged: m.flagged, citations: m.citations ?? [],
    usage: m.role !== 'assistant' ? null : { promptTokens: m.tokensIn, completionTokens: m.tokensOut,
      totalTokens: m.tokensIn + m.tokensOut, costCents: (micros ?? 0) / 1_000_000, costMicros: micros ?? 0,
      estimated: m.tokensEstimated },
    feedback: m.feedbackRating === null || m.feedbackRating === undefined ? null
      : { rating: m.feedbackRating as 1 | -1, comment: m.feedbackComment ?? null },
    createdAt: iso(m.createdAt),
  };
}
