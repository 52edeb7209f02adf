import { definePlugin, defineServices } from '../../kernel/index.ts';
import type { Entitlements, LimitDecision, Limits, Metering, UsageEvent } from '../../plugins/metering/api.ts';

/**
 * A stand-in for the metering plugin: entitlements and limit decisions set by the test, usage
 * events kept in memory.
 */
export function stubMetering() {
  const state = {
    entitled: new Set<string>(),
    decision: { outcome: 'ok' } as LimitDecision,
    recorded: [] as UsageEvent[],
  };
  const metering: Metering = {
    record(_em, e) {
      state.recorded.push(e);
    },
  };
  const limits: Limits = { check: async () => state.decision };
  const entitlements: Entitlements = {
    check: async (userId) => (state.entitled.has(userId) ? { ok: true }
      : { ok: false, code: 'SUBSCRIPTION_REQUIRED', plans: ['pro', 'enterprise'] }),
  };
  const services = defineServices()
    .singleton('metering', () => metering)
    .singleton('limits', () => limits)
    .singleton('entitlements', () => entitlements);
  const plugin = definePlugin({
    name: 'metering', version: '0.0.0', contract: false, services, exports: ['metering', 'limits', 'entitlements'],
  });
  return { plugin, state };
}
