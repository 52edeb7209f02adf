import type { EntityManager } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Cache, Clock, DomainEvent, Mailer, MailMessage, SubscriberDefinition } from '../../kernel/index.ts';
import type { UserRow } from './entities.ts';
import type { IdentityConfig } from './config.ts';
import { OneTimeTokens } from './oneTime.ts';
import { AuditLog } from './audit.ts';

/**
 * The sending side of identity's mail: subscribers to the events the requests staged. Each
 * issues its token, commits it, then sends; a failed send throws, so the bus delivers the event
 * again (at least once). A mail already sent for an event is not sent again on redelivery.
 */
interface Deps {
  em: EntityManager;
  cache: Cache;
  clock: Clock;
  mailer?: Mailer;
  logger: Logger;
  config: IdentityConfig;
}

const SENT_TTL_MS = 7 * 86_400_000;
const link = (template: string, token: string) => template.replace('{token}', encodeURIComponent(token));

async function sendOnce(deps: Deps, event: DomainEvent, n: number, message: MailMessage): Promise<void> {
  const key = `mail-sent:${event.id}:${n}`;
  if (await deps.cache.has(key)) return;
  if (!deps.mailer) {
    deps.logger.error({ subject: message.subject }, 'no mailer configured (adapters.mailer): email not sent');
    return;
  }
  await deps.mailer.send(message);
  await deps.cache.set(key, true, { ttlMs: SENT_TTL_MS });
}

async function sendVerification(deps: Deps, event: DomainEvent, user: UserRow): Promise<void> {
  const token = new OneTimeTokens(deps.em, deps.clock).issue(
    user.id,
    'verify_email',
    deps.config.verifyTokenTtlHours * 3_600_000,
    { data: { email: user.email } },
  );
  await deps.em.flush();
  await sendOnce(deps, event, 0, {
    to: user.email,
    subject: 'Verify your email address',
    text: `Confirm ${user.email} with this link:\n${link(deps.config.links.verifyEmail, token)}\n`,
  });
}

/** The fields of identity's own events that the mail flows read (each event carries some of them). */
interface MailEventData { id: string; email: string; newEmail: string; ip: string | null; userAgent: string | null }

const flows: Record<string, (deps: Deps, event: DomainEvent<MailEventData>) => Promise<void>> = {
  /** A self-registered account gets its verification link (admin-made accounts are verified). */
  async 'identity.user.registered'(deps, event) {
    const user = await deps.em.findOne<UserRow>('IdentityUser', { id: event.data.id, status: 'active' });
    if (user && !user.emailVerified) await sendVerification(deps, event, user);
  },

  async 'identity.email.verification_requested'(deps, event) {
    const user = await deps.em.findOne<UserRow>('IdentityUser', { email: event.data.email, status: 'active' });
    if (user && !user.emailVerified) await sendVerification(deps, event, user);
  },

  /** Only to a verified address: an unverified one may not belong to the account's owner. */
  async 'identity.password.reset_requested'(deps, event) {
    const user = await deps.em.findOne<UserRow>('IdentityUser', {
      email: event.data.email,
      status: 'active',
      emailVerified: true,
    });
    if (!user) return;
    const { resetTokenTtlMinutes: minutes } = deps.config;
    const token = new OneTimeTokens(deps.em, deps.clock).issue(user.id, 'reset_password', minutes * 60_000);
    await new AuditLog(deps.em).record({
      actorId: user.id,
      action: 'user.password_reset_requested',
      targetType: 'user',
      targetId: user.id,
      ip: event.data.ip,
      userAgent: event.data.userAgent,
    });
    await deps.em.flush();
    await sendOnce(deps, event, 0, {
      to: user.email, subject: 'Reset your password',
      text: `Choose a new password with this link (valid ${minutes} minutes, once):\n${link(deps.config.links.resetPassword, token)}\n\nIf you did not ask for this, ignore this email.\n`,
    });
  },

  /** The new address confirms the change; the old one is told, with a link that undoes it. */
  async 'identity.email.change_requested'(deps, event) {
    const user = await deps.em.findOne<UserRow>('IdentityUser', { id: event.data.id, status: 'active' });
    if (!user || user.pendingEmail !== event.data.newEmail) return; // superseded or cancelled
    const tokens = new OneTimeTokens(deps.em, deps.clock);
    const ttl = deps.config.verifyTokenTtlHours * 3_600_000;
    const confirm = tokens.issue(user.id, 'verify_email', ttl, { data: { email: user.pendingEmail, change: true } });
    const undo = tokens.issue(user.id, 'undo_email_change', Math.max(ttl, 7 * 86_400_000), {
      data: { email: user.email },
    });
    await deps.em.flush();
    await sendOnce(deps, event, 0, {
      to: user.pendingEmail!, subject: 'Confirm your new email address',
      text: `Confirm ${user.pendingEmail} as the address of your account with this link:\n${link(deps.config.links.verifyEmail, confirm)}\n`,
    });
    await sendOnce(deps, event, 1, {
      to: user.email, subject: 'Your email address is being changed',
      text: `Someone asked to change the email address of your account from ${user.email} to ${user.pendingEmail}.\n` +
        `If it was not you, undo it (this also signs out every session):\n${link(deps.config.links.undoEmailChange, undo)}\n`,
    });
  },
};

/** One subscriber per event, in groups `identity.mail-<event>`. */
export function mailSubscribers(): SubscriberDefinition[] {
  return Object.entries(flows).map(([event, run]) => ({
    event,
    name: `mail-${event.replace(/^identity\./, '').replace(/\./g, '-')}`,
    async handle(e, ctx) {
      const c = ctx.services as { cache: Cache; clock: Clock; logger: Logger; config: IdentityConfig; mailer?: Mailer };
      let mailer: Mailer | undefined;
      try { mailer = c.mailer; } catch { mailer = undefined; }
      // Identity publishes these events itself, with the fields MailEventData lists.
      await run(
        { em: ctx.em, cache: c.cache, clock: c.clock, mailer, logger: ctx.log, config: c.config },
        e as DomainEvent<MailEventData>,
      );
    },
  }));
}
