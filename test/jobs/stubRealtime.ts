/**
 * A stand-in for plugins/realtime in the jobs tests: the `realtime` service of the agreed interface,
 * keeping what was emitted in memory (the real one stores it durably and fans it out over PubSub).
 */
import { definePlugin, defineServices, type Principal } from '../../kernel/index.ts';

export interface Emitted { channel: string; type: string; data: unknown }

export class MemoryRealtime {
  readonly events: Emitted[] = [];
  readonly checks = new Map<string, (principal: Principal, channel: string) => Promise<boolean>>();
  async emit(channel: string, type: string, data: unknown) {
    this.events.push({ channel, type, data });
    return { channel, type, data, cursor: String(this.events.length), at: new Date().toISOString() };
  }
  authorize(prefix: string, check: (principal: Principal, channel: string) => Promise<boolean>) {
    this.checks.set(prefix, check);
  }
  readonly handlers = new Map<string, (message: Record<string, unknown>, ctx: { principal: Principal }) => unknown>();
  onMessage(type: string, handler: (message: Record<string, unknown>, ctx: { principal: Principal }) => unknown) {
    this.handlers.set(type, handler);
  }
  on(channel: string) {
    return this.events.filter((e) => e.channel === channel);
  }
}

export function stubRealtime(instance = new MemoryRealtime()) {
  const services = defineServices().singleton('realtime', () => instance);
  return {
    instance,
    plugin: definePlugin({
      name: 'realtime', version: '0.0.0', contract: false, services, exports: ['realtime'],
    }),
  };
}
