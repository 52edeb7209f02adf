/**
 * Users' AI preferences as the gateway reads them on every call: cached per user for `ttlMs` (5 s). A change is
 * seen at once on the instance that made it (`drop`), and on the others within the TTL. Bounded: the oldest
 * entries go first past `max`.
 */
import type { MikroORM } from '@mikro-orm/core';
import type { Clock } from '../../kernel/index.ts';
import type { AiUserSettingsRow } from './entities.ts';

export interface UserSettings { preferredModel: string | null; moderation: string | null }

export class UserSettingsCache {
  private entries = new Map<string, { at: number; value: Promise<UserSettings | null> }>();

  constructor(private orm: MikroORM, private clock: Clock, private ttlMs = 5000, private max = 10_000) {}

  get(userId: string): Promise<UserSettings | null> {
    const now = this.clock.now();
    const hit = this.entries.get(userId);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = this.load(userId);
    this.entries.delete(userId);
    this.entries.set(userId, { at: now, value });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    value.catch(() => { if (this.entries.get(userId)?.value === value) this.entries.delete(userId); });
    return value;
  }

  drop(userId: string): void {
    this.entries.delete(userId);
  }

  private async load(userId: string): Promise<UserSettings | null> {
    const row = await this.orm.em.fork().findOne<AiUserSettingsRow>('AiUserSettings', { userId },
      { fields: ['preferredModel', 'moderation'] as never });
    return row ? { preferredModel: row.preferredModel ?? null, moderation: row.moderation ?? null } : null;
  }
}
