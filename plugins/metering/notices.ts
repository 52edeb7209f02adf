import { UniqueConstraintViolationException, type EntityManager, type MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Mailer, Publish, SubscriberDefinition } from '../../kernel/index.ts';
import type { LimitReachedEvent } from './api.ts';
import type { ContactRow, LimitNoticeRow } from './entities.ts';

const MAX_REMEMBERED = 50_000;

/**
 * The first time a limit is reached in a period: one row (unique per user, limit and period)
 * and, in the same transaction, the event `metering.limit.reached`, which the mail subscriber
 * turns into one mail. Later checks in the period read when it was reached (the grace period's start).
 */
export class LimitNotices {
  private readonly remembered = new Map<string, number>();

  constructor(private readonly orm: MikroORM, private readonly publishIn: (em: EntityManager) => Publish) {}

  async reached(userId: string, e: Omit<LimitReachedEvent, 'userId'>, now: number): Promise<number> {
    const key = `${userId}|${e.limit}|${e.period}`;
    const known = this.remembered.get(key);
    if (known !== undefined) return known;
    const at = (await this.insert(userId, e, now)) ?? (await this.existing(userId, e)) ?? now;
    if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
    this.remembered.set(key, at);
    return at;
  }

  private async insert(userId: string, e: Omit<LimitReachedEvent, 'userId'>, now: number): Promise<number | null> {
    const em = this.orm.em.fork();
    em.create<LimitNoticeRow>('MeteringLimitNotice', {
      userId, limitName: e.limit, period: e.period, reachedAtMs: now,
    } as LimitNoticeRow);
    await this.publishIn(em)<LimitReachedEvent>('metering.limit.reached', { userId, ...e }, { key: userId });
    try {
      await em.flush();
      return now;
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) return null;
      throw err;
    }
  }

  private async existing(userId: string, e: Omit<LimitReachedEvent, 'userId'>): Promise<number | null> {
    const row = await this.orm.em.fork().findOne<LimitNoticeRow>('MeteringLimitNotice', {
      userId, limitName: e.limit, period: e.period,
    });
    return row ? Number(row.reachedAtMs) : null;
  }
}

const LIMIT_NAMES: Record<string, string> = {
  tokensPerDay: 'daily token limit', tokensPerPeriod: 'token limit for this billing period',
  costCentsPerMonth: 'monthly cost limit',
};

/** Mails the user once per `metering.limit.reached` (an idempotent consumer). */
export const limitMailSubscriber: SubscriberDefinition = {
  event: 'metering.limit.reached',
  name: 'limit-mail',
  idempotent: true,
  async handle(event, ctx) {
    const e = event.data as LimitReachedEvent;
    const { mailer, logger } = ctx.services as { mailer: Mailer; logger: Logger };
    const contact = await ctx.em.findOne<ContactRow>('MeteringContact', { userId: e.userId });
    if (!contact) {
      logger.warn({ userId: e.userId, limit: e.limit }, 'limit reached, but no address is known for the user');
      return;
    }
    const what = LIMIT_NAMES[e.limit] ?? e.limit;
    await mailer.send({
      to: contact.email,
      subject: `You have reached your ${what}`,
      text: `You have used all of your ${what} (${e.max}). Requests that need more are refused until ` +
        `${e.resetAt}, or upgrade your plan to continue now.`,
    });
  },
};

/** Keeps each user's address for the limit mail. */
export const contactSubscriber: SubscriberDefinition = {
  event: 'identity.user.registered',
  name: 'contacts',
  idempotent: true,
  async handle(event, ctx) {
    const u = event.data as { id: string; email: string };
    const known = await ctx.em.findOne<ContactRow>('MeteringContact', { userId: u.id });
    if (known) known.email = u.email;
    else ctx.em.create<ContactRow>('MeteringContact', { userId: u.id, email: u.email } as ContactRow);
    await ctx.em.flush();
  },
};

/** Forgets a deleted user's address. */
export const contactRemovalSubscriber: SubscriberDefinition = {
  event: 'identity.user.deleted',
  name: 'contacts-removal',
  async handle(event, ctx) {
    const { id } = event.data as { id: string };
    await ctx.em.nativeDelete('MeteringContact', { userId: id });
  },
};
