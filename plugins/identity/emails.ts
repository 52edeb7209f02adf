import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { errors, type Mailer } from '../../kernel/index.ts';
import type { UserRow } from './entities.ts';
import type { IdentityConfig } from './config.ts';
import type { OneTimeTokens } from './oneTime.ts';
import type { AuditLog } from './audit.ts';
import type { AccountService } from './accounts.ts';
import type { ClientInfo, SessionService } from './sessions.ts';
import { hashPassword } from './crypto.ts';
import { checkPassword } from './policy.ts';

export const FORGOT_PASSWORD_REPLY = { message: 'If an account exists for this email, a reset link has been sent.' };

/**
 * Email verification and password reset. Neither reveals whether an address has an account:
 * resend and forgot-password answer the same 202 at once and do their work afterwards.
 */
export class EmailFlows {
  constructor(
    private em: EntityManager, private oneTime: OneTimeTokens, private audit: AuditLog, private accounts: AccountService,
    private sessions: SessionService, private mailer: Mailer | undefined, private logger: Logger, private config: IdentityConfig,
  ) {}

  async sendVerification(user: UserRow): Promise<void> {
    const token = this.oneTime.issue(user.id, 'verify_email', this.config.verifyTokenTtlHours * 3_600_000, { data: { email: user.email } });
    await this.em.flush();
    await this.send(user.email, 'Verify your email address', `Confirm ${user.email} with this link:\n${this.link(this.config.links.verifyEmail, token)}\n`);
  }

  async verify(token: string, client: ClientInfo): Promise<void> {
    const row = await this.oneTime.consume(token, 'verify_email');
    const user = await this.accounts.get(row.userId);
    if (row.data?.email !== user.email) throw errors.validation([{ field: 'body.token', code: 'invalid_token', message: 'was issued for another email address' }]);
    user.emailVerified = true;
    await this.audit.record({ actorId: user.id, action: 'user.email_verified', targetType: 'user', targetId: user.id, ...client });
    await this.em.flush();
  }

  /** Fire-and-forget after the reply: the caller answers 202 whatever happens here. */
  later(what: string, work: () => Promise<void>): void {
    setImmediate(() => work().catch((err) => this.logger.error({ err }, `${what} failed`)));
  }

  async resend(email: string): Promise<void> {
    const user = await this.em.findOne<UserRow>('IdentityUser', { email: email.trim().toLowerCase(), status: 'active' });
    if (user && !user.emailVerified) await this.sendVerification(user);
  }

  async forgot(email: string, client: ClientInfo): Promise<void> {
    const user = await this.em.findOne<UserRow>('IdentityUser', { email: email.trim().toLowerCase(), status: 'active' });
    if (!user) return;
    const token = this.oneTime.issue(user.id, 'reset_password', this.config.resetTokenTtlMinutes * 60_000);
    await this.audit.record({ actorId: user.id, action: 'user.password_reset_requested', targetType: 'user', targetId: user.id, ...client });
    await this.em.flush();
    await this.send(user.email, 'Reset your password', `Choose a new password with this link (valid ${this.config.resetTokenTtlMinutes} minutes, once):\n${this.link(this.config.links.resetPassword, token)}\n\nIf you did not ask for this, ignore this email.\n`);
  }

  async reset(token: string, newPassword: string, client: ClientInfo): Promise<void> {
    const problems = checkPassword(newPassword, this.config.passwordPolicy, 'body.newPassword');
    if (problems.length) throw errors.validation(problems);
    const row = await this.oneTime.consume(token, 'reset_password');
    const user = await this.accounts.get(row.userId);
    user.passwordHash = await hashPassword(newPassword);
    await this.oneTime.revokeAll(user.id, 'reset_password');
    await this.audit.record({ actorId: user.id, action: 'user.password_reset', targetType: 'user', targetId: user.id, ...client });
    await this.em.flush();
    await this.sessions.endAll(user.id, 'password_reset');
  }

  private link(template: string, token: string): string {
    return template.replace('{token}', encodeURIComponent(token));
  }

  private async send(to: string, subject: string, text: string): Promise<void> {
    if (!this.mailer) {
      this.logger.error({ subject }, 'no mailer configured (adapters.mailer): email not sent');
      return;
    }
    await this.mailer.send({ to, subject, text });
  }
}
