import type { JsonSchema } from '../../kernel/ports/adapter.ts';

export interface MeteringConfig {
  /** How often this instance adds its in-memory request counts to the database: the loss window on a crash. */
  requestFlushIntervalMs?: number;
  /** How often rollups and retention run (0: never, e.g. when a scheduled job does it). */
  maintenanceIntervalMs?: number;
  /** How long a user's plan and usage totals are reused by limit and entitlement checks. */
  cacheTtlMs?: number;
  retention?: { detailDays?: number; rollupDays?: number };
}

export const meteringConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requestFlushIntervalMs: { type: 'integer', minimum: 0, default: 10_000 },
    maintenanceIntervalMs: { type: 'integer', minimum: 0, default: 3_600_000 },
    cacheTtlMs: { type: 'integer', minimum: 0, maximum: 300_000, default: 5_000 },
    retention: {
      type: 'object',
      additionalProperties: false,
      properties: {
        detailDays: { type: 'integer', minimum: 1, default: 90 },
        rollupDays: { type: 'integer', minimum: 1, default: 730 },
      },
    },
  },
};

export function settings(c: MeteringConfig | undefined) {
  return {
    requestFlushIntervalMs: c?.requestFlushIntervalMs ?? 10_000,
    maintenanceIntervalMs: c?.maintenanceIntervalMs ?? 3_600_000,
    cacheTtlMs: c?.cacheTtlMs ?? 5_000,
    retention: { detailDays: c?.retention?.detailDays ?? 90, rollupDays: c?.retention?.rollupDays ?? 730 },
  };
}
