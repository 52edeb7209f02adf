import { randomUUID } from 'node:crypto';
import type { EventArgs, EventSubscriber, FlushEventArgs } from '@mikro-orm/core';
import type { Clock, SubscriberDefinition } from '../../kernel/index.ts';
import type { userView } from './views.ts';

export type UserView = ReturnType<typeof userView>;

const DEFAULT_TTL_MS = 10_000;
const DEFAULT_MAX = 10_000;

/**
 * The account view GET /users/me answers, kept per user id in a bounded in-process map.
 * Dropped at once when this instance changes the user (any flush that updates or removes
 * the row: `invalidateOnFlush`), when another instance does (its `identity.user.updated` /
 * `identity.user.deleted` events: `userViewSubscribers`), and after `ttlMs` in any case, a
 * backstop for changes that publish no event (MFA on or off, email verified) made elsewhere.
 * It is a display cache: authorisation never reads it (tokens and permissions do not come from it).
 */
export class UserViewCache {
  private readonly views = new Map<string, { view: UserView; until: number }>();
  /** Bumped by every invalidation: a view read before one is not stored (it may predate the change). */
  private invalidations = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = DEFAULT_TTL_MS,
    private readonly max = DEFAULT_MAX,
  ) {}

  get(id: string): UserView | undefined {
    const hit = this.views.get(id);
    if (!hit) return undefined;
    if (hit.until > this.clock.now()) return hit.view;
    this.views.delete(id);
    return undefined;
  }

  /** Take before reading the row; pass to `set`. */
  ticket(): number {
    return this.invalidations;
  }

  set(id: string, view: UserView, ticket: number): void {
    if (ticket !== this.invalidations) return;
    if (this.views.size >= this.max && !this.views.has(id)) this.views.delete(this.views.keys().next().value!);
    this.views.set(id, { view, until: this.clock.now() + this.ttlMs });
  }

  invalidate(id: string): void {
    this.invalidations++;
    this.views.delete(id);
  }
}

/** MikroORM subscriber: a flush that updates or removes an IdentityUser drops its view (also after the commit). */
export function invalidateOnFlush(cache: UserViewCache): EventSubscriber {
  const drop = (args: EventArgs<{ id?: string }>) => { if (args.entity?.id) cache.invalidate(args.entity.id); };
  return {
    getSubscribedEntities: () => ['IdentityUser'],
    afterUpdate: drop,
    afterDelete: drop,
    afterFlush(args: FlushEventArgs) {
      for (const cs of args.uow.getChangeSets()) {
        if (cs.name === 'IdentityUser') cache.invalidate(String((cs.entity as { id: string }).id));
      }
    },
  };
}

/** One consumer group per instance (made at start), so every instance hears every change. */
const INSTANCE = randomUUID().slice(0, 8);

export function userViewSubscribers(): SubscriberDefinition[] {
  return ['identity.user.updated', 'identity.user.deleted'].map((event) => ({
    event,
    name: `user-views-${event.split('.').pop()}-${INSTANCE}`,
    async handle(e, ctx) {
      const id = (e.data as { id?: string }).id;
      if (id) (ctx.services.userViews as UserViewCache).invalidate(id);
    },
  }));
}
