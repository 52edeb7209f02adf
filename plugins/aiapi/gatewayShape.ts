/**
 * The ai plugin's gateway as this plugin uses it. Until helper E's `plugins/ai/gateway.ts` is merged these are the
 * agreed shapes; afterwards this file re-exports them from ../ai/api.ts.
 */
import type { ChatMessage, FinishReason, ModerationHit, Principal } from '../../kernel/index.ts';
import type { AiExports, RouteAttempt, TaskType } from '../ai/api.ts';

export interface GatewayChatCall {
  principal: Principal; model?: string; preference?: string; context?: string; task?: TaskType;
  messages: ChatMessage[]; maxTokens?: number; temperature?: number; topP?: number; stop?: string[];
  signal?: AbortSignal; reference: { kind: string; id: string }; idempotencyKey?: string;
  userKey?: { provider: string; apiKey: string };
  moderation?: 'off' | 'default' | 'strict';
}
export interface GatewayUsage { promptTokens: number; completionTokens: number; totalTokens: number;
  costCents: number; costMicros: number; estimated: boolean }
export interface GatewayChatResult { id: string; model: string; text: string; finishReason: FinishReason;
  usage: GatewayUsage; ttftMs: number; totalMs: number; attempts: RouteAttempt[];
  flags: ModerationHit[]; warnings: string[]; headers: Record<string, string> }
export type GatewayStreamEvent =
  | { type: 'chunk'; text: string } | { type: 'tokens'; input: number; output: number }
  | { type: 'done'; result: GatewayChatResult }
  | { type: 'error'; code: string; message: string; status: number; partial?: GatewayChatResult };
export interface AiGateway {
  estimate(principal: Principal, call: GatewayChatCall): Promise<{ model: string; inputTokens: number;
    maxOutputTokens: number; estimatedCents: number; estimatedMicros: number; inputCostPer1M: number;
    outputCostPer1M: number }>;
  chat(call: GatewayChatCall): Promise<GatewayChatResult>;
  stream(call: GatewayChatCall): AsyncIterable<GatewayStreamEvent>;
  embed(principal: Principal, o: { model?: string; input: string[]; reference: { kind: string; id: string };
    userKey?: { provider: string; apiKey: string } }): Promise<{ model: string; vectors: number[][];
    usage: GatewayUsage }>;
}
export type GatewayExports = AiExports & { aiGateway: AiGateway };
