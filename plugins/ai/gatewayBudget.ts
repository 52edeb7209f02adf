/**
 * The budget arithmetic of a call: how many output tokens a sum pays for, and what a call may hold. The hold is
 * taken for the chosen model's input estimate plus its bounded output, so no answer can cost more than it; a
 * fallback candidate runs with the output cap that the same hold pays at its own prices, or is left out.
 */
import type { ChatMessage } from '../../kernel/index.ts';
import type { LimitDecision, Limits } from '../metering/api.ts';
import type { AiModel } from './api.ts';
import type { Catalog } from './catalog.ts';
import type { GatewaySettings } from './config.ts';

/** Input tokens of a conversation as the chat formats count them (3 per message and 3 for the reply's start). */
export function conversationTokens(messages: ChatMessage[], count: (text: string) => number): number {
  return messages.reduce((n, m) => n + 3 + count(m.content), 3);
}

/** The input estimate a hold is taken for: the local count plus the margin for vendors' own tokenizers. */
export function withMargin(tokens: number, s: GatewaySettings): number {
  return Math.ceil((tokens * (100 + s.inputMarginPercent)) / 100);
}

/** The most output tokens `budgetMicros` pays for after `input` tokens at `model`'s prices (marked up). */
export function affordableOutput(catalog: Catalog, model: AiModel, input: number, budgetMicros: number,
  cap: number): number {
  if (catalog.costMicros(model, { input, output: 0 }) > budgetMicros) return -1;
  if (model.outputMicrosPer1M === 0) return cap;
  let low = 0;
  let high = cap;
  // Binary search over the exact (rounded-up) cost: the arithmetic is catalog.costMicros', never a copy of it.
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (catalog.costMicros(model, { input, output: mid }) <= budgetMicros) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** The output cap a call asks for: the caller's, else the default; never above the model's maximum. */
export function requestedOutput(model: AiModel, maxTokens: number | undefined, s: GatewaySettings): number {
  return Math.max(1, Math.min(maxTokens ?? s.defaultMaxTokens, model.maxTokens));
}

export interface Candidate { model: AiModel; maxTokens: number }

/** The candidates the hold pays for, each with its output cap; those it cannot pay a minimal answer for go. */
export function fundedCandidates(catalog: Catalog, models: AiModel[], input: number, holdMicros: number | undefined,
  maxTokens: number | undefined, s: GatewaySettings): Candidate[] {
  const out: Candidate[] = [];
  for (const model of models) {
    const wanted = requestedOutput(model, maxTokens, s);
    if (holdMicros === undefined) { out.push({ model, maxTokens: wanted }); continue; }
    const paid = affordableOutput(catalog, model, input, holdMicros, wanted);
    if (paid >= Math.min(wanted, s.minCompletionTokens)) out.push({ model, maxTokens: paid });
  }
  return out;
}

const TOKEN_LIMITS = new Set(['tokensPerDay', 'tokensPerPeriod']);

/**
 * The plan's token limits (`tokensPerDay`, `tokensPerPeriod`) bound the output as the balance does: the check asks
 * for the input plus the output wanted; when a token limit refuses that, the output is cut to what is left of it
 * after the input and asked again (a second token limit may cut it further). When less than `floor` is left, or a
 * limit of another kind refuses, the refusal stands (the caller's `enforce` answers 402 USAGE_LIMIT_EXCEEDED). A
 * grace period lets the call through unbounded, as it does any call.
 */
export async function limitBound(limits: Limits, userId: string,
  o: { input: number; wanted: number; floor: number; costMicros?: number }):
  Promise<{ decision: LimitDecision; output: number; boundBy?: string }> {
  let output = o.wanted;
  let boundBy: string | undefined;
  for (let attempt = 0; ; attempt++) {
    const decision = await limits.check(userId, { tokens: o.input + output,
      ...(o.costMicros === undefined ? {} : { costMicros: o.costMicros }) });
    if (decision.outcome !== 'deny' || decision.grace) return { decision, output, boundBy };
    const left = decision.max === undefined || decision.used === undefined ? -1
      : decision.max - decision.used - o.input;
    if (attempt === 2 || !TOKEN_LIMITS.has(decision.limit) || left < o.floor || left >= output) {
      return { decision, output, boundBy };
    }
    output = left;
    boundBy = decision.limit;
  }
}
