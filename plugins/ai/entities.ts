import { defineEntity, p, type RowOf } from '../../kernel/index.ts';
import type { AiModel } from './api.ts';

/** An admin's change to a model (or a model added at runtime): merged over the configured catalog. */
export const AiModelOverride = defineEntity('AiModelOverride', {
  table: 'ai_model_overrides',
  properties: {
    id: p.id(),
    modelId: p.string({ length: 100 }),
    data: p.json<Partial<AiModel>>(),
    updatedBy: p.string({ length: 36, nullable: true }),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['modelId'], unique: true }],
});
export type AiModelOverrideRow = RowOf<typeof AiModelOverride>;

/** The review queue: a flagged input or output, with what the gateway did about it. */
export const AiModerationItem = defineEntity('AiModerationItem', {
  table: 'ai_moderation_items',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    /** `input` (the user's message) or `output` (the model's answer). */
    direction: p.string({ length: 10 }),
    /** `blocked` (input refused), `flagged` (passed with a flag), `redacted`, `stopped` (content_filter). */
    action: p.string({ length: 20 }),
    severity: p.string({ length: 10 }),
    categories: p.array(p.string()),
    rules: p.array(p.string()),
    /** The flagged text (at most 2,000 characters): what a reviewer reads. Never logged. */
    excerpt: p.text(),
    referenceKind: p.string({ length: 50 }),
    referenceId: p.string({ length: 100 }),
    /** `pending`, `approved` (the text was fine), `rejected` (the flag was right). */
    status: p.string({ length: 20, default: 'pending' }),
    reviewedBy: p.string({ length: 36, nullable: true }),
    reviewedAt: p.datetime({ nullable: true }),
    note: p.text({ nullable: true }),
    createdAt: p.createdAt(),
  },
  indexes: [{ properties: ['status', 'createdAt'] }],
});
export type AiModerationItemRow = RowOf<typeof AiModerationItem>;

/** A chat session (seed 003 FR-AI-010): optionally linked to a context reference. */
export const AiChat = defineEntity('AiChat', {
  table: 'ai_chats',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    title: p.string({ length: 200 }),
    /** The context provider's kind (`notes`, later `book`) and the item's id. */
    contextKind: p.string({ length: 50, nullable: true }),
    contextId: p.string({ length: 100, nullable: true }),
    /** The router's context default (`public`, `private`). */
    contextScope: p.string({ length: 50, nullable: true }),
    model: p.string({ length: 100, nullable: true }),
    /** `active` or `archived`. */
    status: p.string({ length: 20, default: 'active' }),
    lastActivityAt: p.datetime(),
    deletedAt: p.datetime({ nullable: true }),
    createdAt: p.createdAt(),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['userId', 'lastActivityAt'] }],
});
export type AiChatRow = RowOf<typeof AiChat>;

/** One message of a chat, with what it cost and how it went (FR-AI-011, FR-AI-015). */
export const AiChatMessage = defineEntity('AiChatMessage', {
  table: 'ai_chat_messages',
  properties: {
    id: p.id(),
    chatId: p.string({ length: 36 }),
    userId: p.string({ length: 36 }),
    /** `user`, `assistant` or `system`. */
    role: p.string({ length: 20 }),
    content: p.text(),
    model: p.string({ length: 100, nullable: true }),
    tokensIn: p.integer({ default: 0 }),
    tokensOut: p.integer({ default: 0 }),
    costMicros: p.bigint({ nullable: true }),
    /** True when the tokens were counted here because the vendor reported no usage. */
    tokensEstimated: p.boolean({ default: false }),
    /** `stop`, `length`, `content_filter`, `error` (assistant messages). */
    finishReason: p.string({ length: 20, nullable: true }),
    ttftMs: p.integer({ nullable: true }),
    totalMs: p.integer({ nullable: true }),
    flagged: p.boolean({ default: false }),
    citations: p.json<Array<{ page: number | null; excerpt: string; source?: string }>, true>({ nullable: true }),
    feedbackRating: p.integer({ nullable: true }),
    feedbackComment: p.text({ nullable: true }),
    createdAt: p.createdAt(),
  },
  indexes: [{ properties: ['chatId', 'createdAt'] }],
});
export type AiChatMessageRow = RowOf<typeof AiChatMessage>;

/** A user's AI preferences: the preferred model and the moderation strictness (never below the floor). */
export const AiUserSettings = defineEntity('AiUserSettings', {
  table: 'ai_user_settings',
  properties: {
    id: p.id(),
    userId: p.string({ length: 36 }),
    preferredModel: p.string({ length: 100, nullable: true }),
    moderation: p.string({ length: 20, nullable: true }),
    updatedAt: p.updatedAt(),
  },
  indexes: [{ properties: ['userId'], unique: true }],
});
export type AiUserSettingsRow = RowOf<typeof AiUserSettings>;
