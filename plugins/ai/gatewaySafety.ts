/**
 * Safety around a call (seed 003 FR-AI-014): which severities block, flag or act on output at a strictness, and
 * the review queue's rows. Strictness is the highest of the deployment's floor, the user's preference and the
 * caller's ask: a user may raise it, never lower it below the floor.
 *
 * | strictness | input blocked (400) | input flagged (passes) | output acted on            |
 * |------------|---------------------|------------------------|----------------------------|
 * | off        | never               | never                  | never                      |
 * | default    | HIGH                | MEDIUM                 | MEDIUM+ (redact or stop)   |
 * | strict     | MEDIUM+             | LOW                    | MEDIUM+ (always stops)     |
 */
import type { EntityManager } from '@mikro-orm/core';
import {
  AppError, type AiProviders, type ModerationHit, type ModerationResult, type Severity,
} from '../../kernel/index.ts';
import type { Strictness } from './api.ts';
import type { ModerationSettings } from './config.ts';
import type { AiModerationItemRow } from './entities.ts';

const RANK: Record<Severity, number> = { LOW: 1, MEDIUM: 2, HIGH: 3 };
const LEVEL: Record<Strictness, number> = { off: 0, default: 1, strict: 2 };
export const atLeast = (s: Severity, floor: Severity) => RANK[s] >= RANK[floor];

export interface SafetyPolicy {
  level: Strictness;
  blockAt?: Severity;
  flagAt?: Severity;
  output?: { action: 'redact' | 'stop'; floor: Severity };
}

/** The strictness that applies: the floor, raised by the preference or the call. */
export function strictness(floor: Strictness, ...asks: Array<Strictness | null | undefined>): Strictness {
  return asks.reduce<Strictness>((s, a) => (a && LEVEL[a] > LEVEL[s] ? a : s), floor);
}

export function policyFor(level: Strictness, s: ModerationSettings): SafetyPolicy {
  if (level === 'off') return { level };
  if (level === 'strict') {
    return { level, blockAt: 'MEDIUM', flagAt: 'LOW', output: { action: 'stop', floor: 'MEDIUM' } };
  }
  return { level, blockAt: 'HIGH', flagAt: 'MEDIUM', output: { action: s.output, floor: 'MEDIUM' } };
}

/** The moderation check of the deployment's moderator (the local rules by default); undefined when it has none. */
export function checkerOf(ai: AiProviders): ((text: string) => Promise<ModerationResult>) | undefined {
  const moderator = ai.moderator();
  return moderator ? (text) => moderator.moderate({ input: text }) : undefined;
}

export interface InputVerdict { flags: ModerationHit[]; blocked?: ModerationHit[] }

export function judgeInput(result: ModerationResult, policy: SafetyPolicy): InputVerdict {
  const blocking = policy.blockAt ? result.hits.filter((h) => atLeast(h.severity, policy.blockAt!)) : [];
  if (blocking.length) return { flags: blocking, blocked: blocking };
  const flags = policy.flagAt ? result.hits.filter((h) => atLeast(h.severity, policy.flagAt!)) : [];
  return { flags };
}

export function blockedError(hits: ModerationHit[]): AppError {
  const categories = [...new Set(hits.map((h) => h.category))];
  const list = categories.join(', ');
  return new AppError(400, 'CONTENT_BLOCKED', `The message was blocked by the content policy (${list})`, {
    details: { categories, category: categories[0], severity: highest(hits) },
  });
}

export function flagWarning(hits: ModerationHit[], where: 'input' | 'output'): string {
  const categories = [...new Set(hits.map((h) => h.category))].join(', ');
  return where === 'input'
    ? `Your message was flagged (${categories}) and may be reviewed`
    : `Part of the answer was withheld by the content policy (${categories})`;
}

export function highest(hits: ModerationHit[]): Severity {
  return hits.reduce<Severity>((s, h) => (RANK[h.severity] > RANK[s] ? h.severity : s), 'LOW');
}

export interface QueueItem {
  userId: string; direction: 'input' | 'output'; action: 'blocked' | 'flagged' | 'redacted' | 'stopped';
  hits: ModerationHit[]; text: string; reference: { kind: string; id: string };
}

/** Stages a review-queue row (committed by the caller's flush). Items below MEDIUM are not queued. */
export function stageQueueItem(em: EntityManager, item: QueueItem): void {
  const hits = item.hits.filter((h) => atLeast(h.severity, 'MEDIUM'));
  if (!hits.length) return;
  em.persist(em.create<AiModerationItemRow>('AiModerationItem', {
    userId: item.userId, direction: item.direction, action: item.action, severity: highest(hits),
    categories: [...new Set(hits.map((h) => h.category))], rules: [...new Set(hits.map((h) => h.rule))],
    excerpt: item.text.slice(0, 2000), referenceKind: item.reference.kind.slice(0, 50),
    referenceId: item.reference.id.slice(0, 100), status: 'pending',
  } as AiModerationItemRow));
}
