/**
 * What the gateway knows about one call between its checks and its settlement: the plan, the hold, the moderation
 * verdicts, and what the upstream produced so far (raw text, the answering model, usage when the vendor reported).
 */
import type { EntityManager } from '@mikro-orm/core';
import type { ChatMessage, FinishReason, ModerationHit, Usage } from '../../kernel/index.ts';
import type { Hold } from '../billing/api.ts';
import type { AiModel, GatewayChatCall, RouteAttempt, RoutePlan } from './api.ts';
import type { Candidate } from './gatewayBudget.ts';
import type { SafetyPolicy } from './gatewaySafety.ts';

export interface Prepared {
  id: string;
  call: GatewayChatCall;
  userId: string;
  plan: RoutePlan;
  candidates: Candidate[];
  /** The local input count (no margin): the fallback when the vendor reports no usage. */
  inputTokens: number;
  hold?: Hold;
  headers: Record<string, string>;
  warnings: string[];
  inputFlags: ModerationHit[];
  prompt: string;
  policy: SafetyPolicy;
  started: number;
  /** The caller's unit of work; else the gateway's own, forked when something is staged (`ownEm`). */
  em?: EntityManager;
  /** True when the gateway forked `em` and must flush it itself. */
  ownEm: boolean;
}

/** What came back from upstream, filled in as it arrives. */
export class Progress {
  raw = '';
  sent = '';
  deltas = 0;
  /**
   * Output tokens counted locally, delta by delta (for `tokens` events): the deltas since the last event wait in
   * `uncounted` and are counted when an event is due, so a stream shorter than one interval counts none.
   */
  counted = 0;
  uncounted: string[] = [];
  ttftMs?: number;
  model?: AiModel;
  attempts: RouteAttempt[] = [];
  usage?: Usage;
  finishReason?: FinishReason;
  outputHits: ModerationHit[] = [];
  stopped = false;
  /** Set when settlement began: it runs once, whatever happens. */
  settling = false;
}

export function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return messages[i].content;
  return '';
}

/** The usage event's reference: the call's reference, the session and the price version (at most 200 chars). */
export function referenceOf(call: GatewayChatCall, priceVersion: string): string {
  const session = call.session ? ` session:${call.session}` : '';
  return `${call.reference.kind}:${call.reference.id}${session} price:${priceVersion}`.slice(0, 200);
}

/** A short, stable name of a model's prices and the markup: which price list a charge was made at. */
export function priceVersion(model: AiModel, markupPercent: number): string {
  return `${model.inputMicrosPer1M}/${model.outputMicrosPer1M}+${markupPercent}`;
}
