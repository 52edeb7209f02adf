import type { Principal } from '../../kernel/index.ts';
import type { ChannelCheck } from './api.ts';

const PREFIX = /^[a-z][a-z0-9_.-]{0,48}:$/;

/**
 * Who may read which channel. `user:<id>` belongs to that user (not to an OAuth client acting
 * alone); every other prefix is registered by the plugin that owns it; anything else is denied.
 */
export class ChannelAccess {
  private readonly checks = new Map<string, ChannelCheck>([
    ['user:', async (principal, channel) =>
      principal.type !== 'client' && channel === `user:${principal.id}`],
  ]);

  authorize(prefix: string, check: ChannelCheck): void {
    if (!PREFIX.test(prefix)) throw new Error(`realtime.authorize: prefix must look like "job:" (got "${prefix}")`);
    if (this.checks.has(prefix)) throw new Error(`realtime.authorize: prefix "${prefix}" is already registered`);
    this.checks.set(prefix, check);
  }

  async canRead(principal: Principal | undefined, channel: string): Promise<boolean> {
    if (!principal) return false;
    const colon = channel.indexOf(':');
    const check = colon > 0 ? this.checks.get(channel.slice(0, colon + 1)) : undefined;
    if (!check || channel.length === colon + 1) return false;
    try {
      return (await check(principal, channel)) === true;
    } catch {
      return false;
    }
  }
}
