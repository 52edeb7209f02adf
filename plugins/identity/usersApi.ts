import type { MikroORM } from '@mikro-orm/core';
import type { UserRow } from './entities.ts';

/** What another plugin may show of a user: no secrets, no settings. */
export interface UserProfile { id: string; email: string; name: string; role: string; status: string;
  /** Additive: when the account was made (ISO-8601); `list` gives it. */
  createdAt?: string }

/**
 * Read-only user facts for plugins that list identity in `requires` (billing's admin lists): resolved
 * as `identityUsers`. One query per call, whatever the number of ids.
 */
export interface IdentityUsers {
  profiles(ids: string[]): Promise<Map<string, UserProfile>>;
  /** Additive: a page of users, newest first (a seed's admin list that adds its own columns). */
  list?(q: { role?: string; email?: string; page: number; limit: number }):
    Promise<{ users: UserProfile[]; total: number }>;
}

const profile = (u: UserRow): UserProfile => ({
  id: u.id, email: u.email, name: u.name, role: u.role, status: u.status,
  createdAt: new Date(u.createdAt).toISOString(),
});

export function identityUsers(deps: { orm: MikroORM }): IdentityUsers {
  return {
    async profiles(ids) {
      const unique = [...new Set(ids)];
      if (!unique.length) return new Map();
      const rows = (await deps.orm.em.fork().find('IdentityUser', { id: { $in: unique } })) as UserRow[];
      return new Map(
        rows.map((u) => [u.id, { id: u.id, email: u.email, name: u.name, role: u.role, status: u.status }]),
      );
    },
    async list(q) {
      const where: Record<string, unknown> = { status: { $ne: 'deleted' } };
      if (q.role) where.role = q.role;
      if (q.email) where.email = { $like: `%${q.email.toLowerCase().replace(/[%_\\]/g, '')}%` };
      const [rows, total] = await deps.orm.em.fork().findAndCount<UserRow>('IdentityUser', where, {
        orderBy: { createdAt: 'desc', id: 'desc' }, limit: q.limit, offset: (q.page - 1) * q.limit,
      });
      return { users: rows.map(profile), total };
    },
  };
}
