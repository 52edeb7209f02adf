import { createHash, randomBytes } from 'node:crypto';
import type { Cache, Clock, Principal } from '../../kernel/index.ts';

export interface Ticket { principal: Principal; expiresAt?: number }

const TOKEN = /^rt_[A-Za-z0-9_-]{43}$/;
const keyOf = (token: string) => `ticket:${createHash('sha256').update(token).digest('hex')}`;

/**
 * Short-lived, single-use WebSocket tickets (a browser cannot set headers on a WebSocket): only
 * the SHA-256 of a ticket is stored, in the cache with a ttl, and `take` is atomic (compare and
 * delete), so of two connections racing with one ticket exactly one gets it, on any instance.
 */
export class Tickets {
  constructor(private readonly cache: Cache, private readonly clock: Clock, private readonly ttlSeconds: number) {}

  async issue(principal: Principal, expiresAt?: number): Promise<{ ticket: string; expiresAt: string }> {
    const ticket = `rt_${randomBytes(32).toString('base64url')}`;
    const value: Ticket = { principal: { ...principal }, ...(expiresAt ? { expiresAt } : {}) };
    await this.cache.set(keyOf(ticket), value, { ttlMs: this.ttlSeconds * 1000 });
    return { ticket, expiresAt: new Date(this.clock.now() + this.ttlSeconds * 1000).toISOString() };
  }

  async take(ticket: string): Promise<Ticket | undefined> {
    if (!TOKEN.test(ticket)) return undefined;
    const key = keyOf(ticket);
    const value = await this.cache.get<Ticket>(key);
    if (!value) return undefined;
    return (await this.cache.compareAndDelete(key, value)) ? value : undefined;
  }
}

/** The `exp` of a JWT bearer token in ms (already verified by the authenticator), else undefined (API keys). */
export function tokenExpiry(authorization: string | undefined): number | undefined {
  const token = authorization?.replace(/^Bearer\s+/i, '') ?? '';
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
