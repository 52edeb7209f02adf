import { errors } from '../../kernel/index.ts';
import type { Subscriptions } from '../billing/api.ts';
import type { IdentityUsers } from '../identity/api.ts';
import type { Operations, Schemas } from './contract.gen.ts';

type Query = Operations['toolhub.adminUsers']['query'];

/**
 * Seed 001's admin user list (FR-026): identity's users, newest first, each with their role and the
 * state of their subscription now (billing computes it from the clock, so a lapsed one reads expired).
 */
export async function hubUsers(q: Query, users: IdentityUsers, subscriptions: Subscriptions) {
  if (!users.list) throw errors.unavailable('identity user list', 5);
  const { users: page, total } = await users.list(q);
  const data: Array<Schemas['HubUser']> = await Promise.all(page.map(async (u) => {
    const { subscription: s, plan } = await subscriptions.current(u.id);
    return {
      id: u.id, email: u.email, name: u.name, role: u.role, status: u.status, createdAt: u.createdAt ?? '',
      subscriptionStatus: s?.status ?? 'none',
      planId: s && (s.status === 'active' || s.status === 'past_due') ? plan.id : null,
      subscription: s ? {
        planId: s.planId, status: s.status, currentPeriodEnd: s.currentPeriodEnd,
        cancelAtPeriodEnd: s.cancelAtPeriodEnd, expiresAt: s.expiresAt,
      } : null,
    };
  }));
  const more = q.page * q.limit < total;
  return { data, pagination: { limit: q.limit, page: q.page, total, nextCursor: more ? String(q.page + 1) : null } };
}
