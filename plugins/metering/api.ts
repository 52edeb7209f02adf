// Stub of helper E's interface (replaced at merge).
import type { EntityManager } from '@mikro-orm/core';
export interface UsageEvent { userId: string; kind: 'tool'|'chat'|'embedding'|'generation'|string; subject: string;
  tokensIn: number; tokensOut: number; costMicros: number; reference?: string; status?: 'ok'|'failed';
  occurredAt?: Date }
export interface Metering {  // exported service name: `metering`
  record(em: EntityManager, e: UsageEvent): void;      // staged in the caller's unit of work (their flush commits)
}
export type LimitDecision = { outcome: 'ok' } | { outcome: 'warn'; message: string; limit: string }
  | { outcome: 'deny'; code: 'USAGE_LIMIT_EXCEEDED'; limit: string; resetAt: string; plans: string[]; grace?: boolean };
export interface Limits { check(userId: string, ask: { tokens?: number; costMicros?: number }): Promise<LimitDecision> }
export interface Entitlements { check(userId: string, feature: string): Promise<{ ok: true } |
  { ok: false; code: 'SUBSCRIPTION_REQUIRED'; plans: string[] }> }
export interface MeteringExports { metering: Metering; limits: Limits; entitlements: Entitlements }
