import type { EntityManager } from '@mikro-orm/core';
import { errors, type Clock } from '../../kernel/index.ts';
import type { IdentityConfig } from './config.ts';
import type { OneTimeTokens } from './oneTime.ts';
import type { AuditLog } from './audit.ts';
import type { AccountService } from './accounts.ts';
import type { ClientInfo, Publish, SessionService } from './sessions.ts';
import { hashPassword } from './crypto.ts';
import { checkPassword } from './policy.ts';

export const FORGOT_PASSWORD_REPLY = { message: 'If an account exists for this email, a reset link has been sent.' };

/**
 * Email verification, email change and password reset, request side. Mail is never sent from
 * the request: the request stages an event in its unit of work, and a subscriber (mailFlows.ts)
 * issues the token and sends the mail through the Mailer port, retried by the bus until it
 * goes, so an accepted request's mail survives a crash or a SIGTERM. Resend and forgot-password
 * stage the same event whatever the address, so neither body nor timing reveals an account.
 */
export class EmailFlows {
  constructor(
    private em: EntityManager,
    private oneTime: OneTimeTokens,
    private audit: AuditLog,
    private accounts: AccountService,
    private sessions: SessionService,
    private publish: Publish,
    private clock: Clock,
    private config: IdentityConfig,
  ) {}

  async requestVerification(email: string): Promise<void> {
    await this.publish('identity.email.verification_requested', { email: email.trim().toLowerCase() });
  }

  async requestReset(email: string, client: ClientInfo): Promise<void> {
    await this.publish('identity.password.reset_requested', {
      email: email.trim().toLowerCase(),
      ip: client.ip,
      userAgent: client.userAgent,
    });
  }

  /** Confirms an address: the account's own, or the new one of a pending email change (which then takes effect). */
  async verify(token: string, client: ClientInfo): Promise<void> {
    const row = await this.oneTime.consume(token, 'verify_email');
    const user = await this.accounts.get(row.userId);
    const email = row.data?.email;
    if (row.data?.change) {
      if (user.pendingEmail !== email) throw invalidToken('was issued for an email change that is no longer pending');
      if (await this.em.count('IdentityUser', { email, id: { $ne: user.id } }))
        throw errors.conflict('An account with this email already exists');
      const old = user.email;
      user.email = String(email);
      user.emailVerified = true;
      user.pendingEmail = null;
      // Reset links mailed to the old address must not outlive the change.
      await this.oneTime.revokeAll(user.id, 'reset_password');
      await this.audit.record({
        actorId: user.id,
        action: 'user.email_changed',
        targetType: 'user',
        targetId: user.id,
        ...client,
        oldValues: { email: old },
        newValues: { email: user.email },
      });
      await this.publish('identity.user.updated', { id: user.id, fields: ['email'] }, { key: user.id });
      await this.em.flush();
      return;
    }
    if (email !== user.email) throw invalidToken('was issued for another email address');
    user.emailVerified = true;
    await this.audit.record({
      actorId: user.id,
      action: 'user.email_verified',
      targetType: 'user',
      targetId: user.id,
      ...client,
    });
    await this.em.flush();
  }

  /**
   * The link mailed to the old address: cancels a pending change, or reverts one that took
   * effect. Someone else may hold the account, so every session and OAuth grant ends too.
   */
  async undoEmailChange(token: string, client: ClientInfo): Promise<void> {
    const row = await this.oneTime.consume(token, 'undo_email_change');
    const user = await this.accounts.get(row.userId);
    const old = String(row.data?.email);
    if (user.email !== old) {
      if (await this.em.count('IdentityUser', { email: old, id: { $ne: user.id } }))
        throw errors.conflict('The old address now belongs to another account');
      await this.audit.record({
        actorId: user.id,
        action: 'user.email_change_undone',
        targetType: 'user',
        targetId: user.id,
        ...client,
        oldValues: { email: user.email },
        newValues: { email: old },
      });
      user.email = old;
      user.emailVerified = true;
    } else {
      await this.audit.record({
        actorId: user.id,
        action: 'user.email_change_cancelled',
        targetType: 'user',
        targetId: user.id,
        ...client,
        oldValues: { pendingEmail: user.pendingEmail },
      });
    }
    user.pendingEmail = null;
    await this.oneTime.revokeAll(user.id, 'verify_email');
    await this.oneTime.revokeAll(user.id, 'reset_password');
    await this.sessions.bumpStanding(user, 'email_change_undone');
    await this.publish('identity.user.updated', { id: user.id, fields: ['email'] }, { key: user.id });
    await this.em.flush();
    await this.sessions.afterStandingChange(user, 'email_change_undone');
  }

  /**
   * A reset means "my account may be compromised": it ends every session, OAuth grant and
   * pending MFA challenge, and revokes the API keys unless the request says `keepApiKeys`.
   */
  async reset(
    token: string,
    newPassword: string,
    client: ClientInfo,
    options: { keepApiKeys?: boolean } = {},
  ): Promise<void> {
    const problems = checkPassword(newPassword, this.config.passwordPolicy, 'body.newPassword');
    if (problems.length) throw errors.validation(problems);
    const row = await this.oneTime.consume(token, 'reset_password');
    const user = await this.accounts.get(row.userId);
    user.passwordHash = await hashPassword(newPassword);
    await this.oneTime.revokeAll(user.id, 'reset_password');
    await this.sessions.bumpStanding(user, 'password_reset');
    await this.audit.record({
      actorId: user.id,
      action: 'user.password_reset',
      targetType: 'user',
      targetId: user.id,
      ...client,
      newValues: { keepApiKeys: Boolean(options.keepApiKeys) },
    });
    await this.em.flush();
    if (!options.keepApiKeys)
      await this.em.nativeUpdate(
        'IdentityApiKey',
        { userId: user.id, revokedAt: null },
        { revokedAt: this.clock.date() },
      );
    await this.sessions.afterStandingChange(user, 'password_reset');
  }
}

const invalidToken = (message: string) => errors.validation([{ field: 'body.token', code: 'invalid_token', message }]);
