import type { EntityManager } from '@mikro-orm/core';
import { AppError, beyondHeld, errors, encodeCursor, decodeCursor, type Clock } from '../../kernel/index.ts';
import type { AuditRow, RoleRow, UserRow } from './entities.ts';
import type { AccountService } from './accounts.ts';
import type { AuditLog } from './audit.ts';
import type { RoleCatalog } from './roles.ts';
import type { ClientInfo, Publish, SessionService } from './sessions.ts';
import { auditView, userView } from './views.ts';

/** The caller: `permissions` are its effective ones (a token's scopes, not just its role), and bound every grant. */
export interface Actor { id: string; role: string; permissions: string[] }

/** Administration of users, roles and the audit log. Every change is audited. */
export class AdminService {
  constructor(
    private em: EntityManager,
    private clock: Clock,
    private accounts: AccountService,
    private sessions: SessionService,
    private audit: AuditLog,
    private roles: RoleCatalog,
    private publish: Publish,
    private impersonationTtlMinutes: number,
  ) {}

  async listUsers(q: { role?: string; status?: string; email?: string; page: number; limit: number }) {
    const where: Record<string, unknown> = {};
    if (q.role) where.role = q.role;
    if (q.status) where.status = q.status;
    if (q.email) where.email = { $like: `%${q.email.toLowerCase().replace(/[%_\\]/g, '')}%` };
    const [rows, total] = await this.em.findAndCount<UserRow>('IdentityUser', where, {
      orderBy: { createdAt: 'desc', id: 'desc' },
      limit: q.limit,
      offset: (q.page - 1) * q.limit,
    });
    return {
      data: rows.map(userView),
      pagination: {
        limit: q.limit,
        page: q.page,
        total,
        nextCursor: q.page * q.limit < total ? String(q.page + 1) : null,
      },
    };
  }

  async createUser(
    actor: Actor,
    input: { name: string; email: string; password: string; role?: string },
    client: ClientInfo,
  ) {
    const role = input.role ?? 'user';
    this.accounts.assertCanGrant(actor.role, role);
    this.assertHoldsRole(actor, role);
    const user = await this.accounts.register(input, client, { role, verified: true });
    await this.audit.record(
      {
        actorId: actor.id,
        action: 'admin.user_created',
        targetType: 'user',
        targetId: user.id,
        ...client,
        newValues: { role },
      },
      { flush: true },
    );
    return userView(user);
  }

  async updateUser(
    actor: Actor,
    id: string,
    changes: { role?: string; status?: 'active' | 'suspended'; tier?: string },
    client: ClientInfo,
  ) {
    const user = await this.accounts.get(id);
    if (id === actor.id && (changes.role || changes.status))
      throw new AppError(403, 'CANNOT_CHANGE_SELF', 'You cannot change your own role or status');
    this.accounts.assertCanGrant(actor.role, changes.role ?? user.role, user.role);
    this.assertHoldsRole(actor, user.role);
    if (changes.role) this.assertHoldsRole(actor, changes.role);
    const old = { role: user.role, status: user.status, tier: user.tier };
    if (changes.role) user.role = changes.role;
    if (changes.status) user.status = changes.status;
    if (changes.tier) user.tier = changes.tier;
    await this.audit.record({
      actorId: actor.id,
      action: changes.role && changes.role !== old.role ? 'admin.role_changed' : 'admin.user_updated',
      targetType: 'user',
      targetId: id,
      ...client,
      oldValues: old,
      newValues: changes,
    });
    // A suspension or a role change takes effect now, on every instance: sessions, keys, OAuth
    // tokens and grants, pending MFA challenges (see standing.ts).
    const standing =
      changes.status === 'suspended' && old.status !== 'suspended'
        ? 'suspended'
        : changes.role && changes.role !== old.role
          ? 'role_changed'
          : undefined;
    if (standing) await this.sessions.bumpStanding(user, standing);
    await this.publish('identity.user.updated', { id, fields: Object.keys(changes) }, { key: id });
    await this.em.flush();
    if (standing) await this.sessions.afterStandingChange(user, standing);
    return userView(user);
  }

  async deleteUser(actor: Actor, id: string, client: ClientInfo) {
    const user = await this.accounts.get(id);
    this.accounts.assertCanGrant(actor.role, user.role, user.role);
    this.assertHoldsRole(actor, user.role);
    await this.accounts.erase(user, actor.id, client);
  }

  async impersonate(actor: Actor, id: string, client: ClientInfo) {
    const user = await this.accounts.get(id);
    if (this.roles.levelOf(user.role) >= this.roles.levelOf(actor.role))
      throw new AppError(403, 'ROLE_ABOVE_YOUR_OWN', 'You can only impersonate users below your level');
    // An impersonation token carries the target's permissions: they must all be the actor's already.
    this.assertHoldsRole(actor, user.role);
    await this.audit.record(
      { actorId: actor.id, action: 'admin.impersonate', targetType: 'user', targetId: id, ...client },
      { flush: true },
    );
    return this.sessions.start(user, client, {
      impersonatorId: actor.id,
      ttlSeconds: this.impersonationTtlMinutes * 60,
    });
  }

  async auditLogs(q: { userId?: string; action?: string; from?: string; to?: string; limit: number; cursor?: string }) {
    const and: Record<string, unknown>[] = [];
    if (q.userId) and.push({ $or: [{ actorId: q.userId }, { targetId: q.userId }] });
    if (q.action) and.push({ action: q.action });
    if (q.from) and.push({ createdAt: { $gte: new Date(q.from) } });
    if (q.to) and.push({ createdAt: { $lte: new Date(q.to) } });
    const before = decodeCursor(q.cursor, (v) => /^[0-9a-f-]{36}$/.test(v));
    if (before) and.push({ id: { $lt: before } });
    const rows = await this.em.find<AuditRow>('IdentityAudit', and.length ? { $and: and } : {}, {
      orderBy: { id: 'desc' },
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    return {
      data: page.map(auditView),
      pagination: { limit: q.limit, nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1].id) : null },
    };
  }

  async createRole(
    actor: Actor,
    input: { name: string; level: number; permissions: string[]; description: string },
    client: ClientInfo,
  ) {
    if (this.roles.get(input.name)) throw errors.conflict(`Role ${input.name} already exists`);
    this.assertRoleWithinActor(actor, input.level, input.permissions);
    const row = this.em.create<RoleRow>('IdentityRole', { ...input, createdAt: this.clock.date() } as RoleRow);
    await this.audit.record({
      actorId: actor.id,
      action: 'admin.role_created',
      targetType: 'role',
      targetId: input.name,
      ...client,
      newValues: input,
    });
    await this.em.flush();
    await this.roles.load(this.em);
    return { ...this.roles.get(row.name)! };
  }

  async updateRole(
    actor: Actor,
    name: string,
    changes: { permissions?: string[]; description?: string; level?: number },
    client: ClientInfo,
  ) {
    const row = await this.customRole(name);
    this.assertRoleWithinActor(actor, changes.level ?? row.level, changes.permissions ?? row.permissions);
    const old = { level: row.level, permissions: row.permissions, description: row.description };
    Object.assign(row, changes);
    await this.audit.record({
      actorId: actor.id,
      action: 'admin.role_updated',
      targetType: 'role',
      targetId: name,
      ...client,
      oldValues: old,
      newValues: changes,
    });
    await this.em.flush();
    await this.roles.load(this.em);
    return { ...this.roles.get(name)! };
  }

  async deleteRole(actor: Actor, name: string, client: ClientInfo) {
    const row = await this.customRole(name);
    this.assertRoleWithinActor(actor, row.level, row.permissions);
    if (await this.em.count('IdentityUser', { role: name, status: { $ne: 'deleted' } }))
      throw errors.conflict(`Role ${name} is still assigned to users`);
    this.em.remove(row);
    await this.audit.record({
      actorId: actor.id,
      action: 'admin.role_deleted',
      targetType: 'role',
      targetId: name,
      ...client,
    });
    await this.em.flush();
    await this.roles.load(this.em);
  }

  private async customRole(name: string): Promise<RoleRow> {
    if (this.roles.isBuiltIn(name)) throw new AppError(403, 'BUILT_IN_ROLE', 'Built-in roles cannot be changed');
    const row = await this.em.findOne<RoleRow>('IdentityRole', { name });
    if (!row) throw errors.notFound(`Role ${name} not found`);
    return row;
  }

  /** Granting, changing, erasing or impersonating an account needs every permission its role holds. */
  private assertHoldsRole(actor: Actor, role: string) {
    const beyond = beyondHeld(actor.permissions, this.roles.permissionsOf(role));
    if (beyond.length) {
      throw new AppError(403, 'PERMISSIONS_BEYOND_YOUR_OWN', `Role ${role} holds permissions you do not`, {
        details: { beyond },
      });
    }
  }

  /** A custom role can hold neither a level nor a permission beyond its creator's (effective permissions). */
  private assertRoleWithinActor(actor: Actor, level: number, permissions: string[]) {
    const beyond = beyondHeld(actor.permissions, permissions);
    if (level > this.roles.levelOf(actor.role) || beyond.length) {
      throw new AppError(403, 'ROLE_ABOVE_YOUR_OWN', 'A role cannot exceed your own level or permissions', {
        details: { beyond },
      });
    }
  }
}
