import type { EntityManager } from '@mikro-orm/core';
import { AppError, errors, type Clock } from '../../kernel/index.ts';
import type { IdentityConfig } from './config.ts';
import type { UserRow } from './entities.ts';
import { burnPasswordCheck, hashPassword, verifyPassword } from './crypto.ts';
import { checkPassword } from './policy.ts';
import type { AuditLog } from './audit.ts';
import type { LoginThrottle } from './throttle.ts';
import type { ClientInfo, Publish, SessionService } from './sessions.ts';
import type { RoleCatalog } from './roles.ts';
import { userView } from './views.ts';

export const DEFAULT_SETTINGS = {
  notifications: { email: true, product: false },
  theme: 'system' as 'system' | 'light' | 'dark', language: 'en', timezone: 'UTC',
  privacy: { profilePublic: true, showActivity: false },
  ai: { defaultModel: null, temperature: null, saveHistory: true },
};

/** Registration, login and the account's own changes. */
export class AccountService {
  constructor(
    private em: EntityManager,
    private clock: Clock,
    private audit: AuditLog,
    private throttle: LoginThrottle,
    private sessions: SessionService,
    private roles: RoleCatalog,
    private publish: Publish,
    private config: IdentityConfig,
  ) {}

  async register(
    input: { name: string; email: string; password: string },
    client: ClientInfo,
    options: { role?: string; verified?: boolean } = {},
  ) {
    const problems = checkPassword(input.password, this.config.passwordPolicy);
    if (problems.length) throw errors.validation(problems);
    const email = input.email.trim().toLowerCase();
    if (await this.em.count('IdentityUser', { email }))
      throw errors.conflict('An account with this email already exists');
    const user = this.em.create<UserRow>('IdentityUser', {
      email,
      name: input.name.trim(),
      passwordHash: await hashPassword(input.password),
      role: options.role ?? 'user',
      status: 'active',
      emailVerified: options.verified ?? false,
      mfaEnabled: false,
      mfaSecret: null,
      mfaLastStep: null,
      tier: 'free',
      settings: DEFAULT_SETTINGS,
    } as unknown as UserRow);
    await this.audit.record({
      actorId: user.id,
      action: 'user.registered',
      targetType: 'user',
      targetId: user.id,
      ...client,
      newValues: { email, role: user.role },
    });
    await this.publish(
      'identity.user.registered',
      { id: user.id, email: user.email, name: user.name },
      { key: user.id },
    );
    await this.em.flush();
    return user;
  }

  /** Checks credentials under the brute-force throttle; returns the user, or throws 401/403/429. */
  async authenticate(email: string, password: string, client: ClientInfo): Promise<UserRow> {
    const account = email.trim().toLowerCase();
    const ip = client.ip ?? 'unknown';
    await this.throttle.enter(account, ip);
    let outcome: 'failed' | 'succeeded' | 'other' = 'other';
    try {
      const user = await this.em.findOne<UserRow>('IdentityUser', { email: account });
      const ok =
        user && user.status !== 'deleted'
          ? await verifyPassword(user.passwordHash, password)
          : (await burnPasswordCheck(password), false);
      if (!ok || !user) {
        outcome = 'failed';
        await this.throttle.failed(account, ip);
        await this.audit.record(
          {
            actorId: user?.id ?? null,
            action: 'auth.login_failed',
            targetType: 'user',
            targetId: user?.id,
            ...client,
            newValues: { email: account },
          },
          { flush: true },
        );
        throw errors.unauthorized('Email or password is incorrect', 'INVALID_CREDENTIALS');
      }
      if (user.status === 'suspended') throw new AppError(403, 'ACCOUNT_SUSPENDED', 'This account is suspended');
      if (this.config.requireEmailVerification && !user.emailVerified)
        throw new AppError(403, 'EMAIL_NOT_VERIFIED', 'Verify your email address before signing in');
      outcome = 'succeeded';
      await this.throttle.succeeded(account, ip);
      return user;
    } finally {
      // A suspended account, a database error...: the attempt slot is given back.
      if (outcome === 'other') await this.throttle.release(account, ip).catch(() => {});
    }
  }

  /** After authenticate() for an account without MFA: a new session and its tokens. */
  async startSession(user: UserRow, client: ClientInfo) {
    await this.audit.record({
      actorId: user.id,
      action: 'auth.login',
      targetType: 'user',
      targetId: user.id,
      ...client,
    });
    return this.sessions.start(user, client);
  }

  async get(id: string): Promise<UserRow> {
    const user = await this.em.findOne<UserRow>('IdentityUser', { id, status: { $ne: 'deleted' } });
    if (!user) throw errors.notFound('User not found');
    return user;
  }

  /**
   * PATCH /users/me: name now; an email change needs the current password (or an MFA proof
   * younger than `mfa.stepUpMaxAgeSeconds`) and takes effect only once the new address is
   * confirmed from that address; the old one is told, with a link to undo it (mailFlows.ts).
   * Protected fields are refused by the contract.
   */
  async updateMe(
    userId: string,
    changes: { name?: string; email?: string; currentPassword?: string },
    client: ClientInfo,
    proof: { mfaAt?: number } = {},
  ) {
    const user = await this.get(userId);
    const old = { name: user.name, email: user.email };
    if (changes.name !== undefined) user.name = changes.name.trim();
    const email = changes.email?.trim().toLowerCase();
    const changing = email !== undefined && email !== user.email;
    if (changing) {
      await this.assertRecentlyAuthenticated(user, changes.currentPassword, proof.mfaAt);
      if (await this.em.count('IdentityUser', { email }))
        throw errors.conflict('An account with this email already exists');
      user.pendingEmail = email;
      await this.publish('identity.email.change_requested', { id: user.id, newEmail: email }, { key: user.id });
    } else if (email !== undefined && user.pendingEmail) {
      user.pendingEmail = null; // asking for the current address again cancels a pending change
    }
    await this.audit.record({
      actorId: userId,
      action: changing ? 'user.email_change_requested' : 'user.updated',
      targetType: 'user',
      targetId: userId,
      ...client,
      oldValues: old,
      newValues: { name: user.name, ...(changing ? { pendingEmail: email } : {}) },
    });
    const fields = Object.keys(changes).filter((f) => f === 'name');
    if (fields.length) await this.publish('identity.user.updated', { id: user.id, fields }, { key: user.id });
    await this.em.flush();
    return userView(user);
  }

  /** The current password, or a recent MFA proof of this session. */
  private async assertRecentlyAuthenticated(user: UserRow, password: string | undefined, mfaAt: number | undefined) {
    const recentMfa = mfaAt !== undefined && this.clock.now() / 1000 - mfaAt <= this.config.mfa.stepUpMaxAgeSeconds;
    if (recentMfa) return;
    if (!password)
      throw errors.validation([
        {
          field: 'body.currentPassword',
          code: 'required',
          message: 'is required to change the email address (or a recent MFA step-up)',
        },
      ]);
    if (!(await verifyPassword(user.passwordHash, password)))
      throw errors.validation([{ field: 'body.currentPassword', code: 'incorrect', message: 'is incorrect' }]);
  }

  async changePassword(
    userId: string,
    sessionId: string | undefined,
    current: string,
    next: string,
    client: ClientInfo,
  ) {
    const user = await this.get(userId);
    if (!(await verifyPassword(user.passwordHash, current))) {
      throw errors.validation([{ field: 'body.currentPassword', code: 'incorrect', message: 'is incorrect' }]);
    }
    const problems = checkPassword(next, this.config.passwordPolicy, 'body.newPassword');
    if (problems.length) throw errors.validation(problems);
    user.passwordHash = await hashPassword(next);
    // A reset link requested before the change must not undo it.
    await this.oneTimeRevoke(userId, 'reset_password');
    await this.audit.record({
      actorId: userId,
      action: 'user.password_changed',
      targetType: 'user',
      targetId: userId,
      ...client,
    });
    await this.em.flush();
    return { revokedSessions: await this.sessions.endAll(userId, 'password_changed', sessionId) };
  }

  private async oneTimeRevoke(userId: string, purpose: string) {
    await this.em.nativeDelete('IdentityOneTimeToken', { userId, purpose, usedAt: null });
  }

  async verifyPassword(userId: string, password: string): Promise<UserRow> {
    const user = await this.get(userId);
    if (!(await verifyPassword(user.passwordHash, password)))
      throw errors.validation([{ field: 'body.password', code: 'incorrect', message: 'is incorrect' }]);
    return user;
  }

  async deleteMe(userId: string, password: string, client: ClientInfo) {
    const user = await this.verifyPassword(userId, password);
    await this.erase(user, userId, client);
  }

  /** GDPR erasure: the row is anonymised (ids keep audit history meaningful), every credential revoked. */
  async erase(user: UserRow, actorId: string, client: ClientInfo) {
    await this.sessions.bumpStanding(user, 'account_deleted');
    await this.em.nativeUpdate(
      'IdentityApiKey',
      { userId: user.id, revokedAt: null },
      { revokedAt: this.clock.date() },
    );
    user.email = `deleted-${user.id}@invalid`;
    user.name = 'Deleted user';
    user.passwordHash = await hashPassword(`${user.id}:${Math.random()}`);
    user.status = 'deleted';
    user.mfaEnabled = false;
    user.mfaSecret = null;
    user.settings = {};
    await this.audit.record({ actorId, action: 'user.deleted', targetType: 'user', targetId: user.id, ...client });
    await this.publish('identity.user.deleted', { id: user.id }, { key: user.id });
    await this.em.flush();
    await this.sessions.afterStandingChange(user, 'account_deleted');
  }

  /** The role change rule: you cannot grant (or take away) a role above your own. */
  assertCanGrant(actorRole: string, role: string, targetCurrentRole?: string) {
    if (!this.roles.get(role))
      throw errors.validation([
        {
          field: 'body.role',
          code: 'enum',
          message: `unknown role (allowed: ${this.roles
            .all()
            .map((r) => r.name)
            .join(', ')})`,
        },
      ]);
    const mine = this.roles.levelOf(actorRole);
    if (this.roles.levelOf(role) > mine || (targetCurrentRole && this.roles.levelOf(targetCurrentRole) > mine)) {
      throw new AppError(403, 'ROLE_ABOVE_YOUR_OWN', 'You cannot grant or change a role above your own');
    }
  }
}
