import type { MikroORM } from '@mikro-orm/core';
import type { UserRow } from './entities.ts';

/** What another plugin may show of a user: no secrets, no settings. */
export interface UserProfile { id: string; email: string; name: string; role: string; status: string }

/**
 * Read-only user facts for plugins that list identity in `requires` (billing's admin lists): resolved
 * as `identityUsers`. One query per call, whatever the number of ids.
 */
export interface IdentityUsers {
  profiles(ids: string[]): Promise<Map<string, UserProfile>>;
}

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
  };
}
