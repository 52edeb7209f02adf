import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { Cache, Clock } from '../../kernel/index.ts';
import type { ApiKeyRow, UserRow } from './entities.ts';
import type { Publish } from './sessions.ts';

/**
 * A user's *standing* (status, role, password) backs every credential they hold. Each change of
 * standing bumps `users.standing_version`; tokens carry the version they were issued under
 * (`sv`), and one issued under an older version is refused. The current version of a recently
 * changed user sits in the Cache port (pinned, for longer than any token lives), so the check
 * costs a cache read, not a query; the version is absent (0) for users who never changed.
 */
export const standingKey = (userId: string) => `standing:${userId}`;
/** Longer than any access token lives (identity and OAuth tokens are capped at 24 h). */
const STANDING_TTL_MS = 2 * 86_400_000;
const apiKeyCacheKey = (hash: string) => `apikey:${hash}`;

export type StandingReason =
  'suspended' | 'role_changed' | 'password_reset' | 'account_deleted' | 'email_change_undone';

export async function currentStanding(cache: Cache, userId: string): Promise<number> {
  return (await cache.get<number>(standingKey(userId))) ?? 0;
}

/**
 * Bumps the user's standing in the caller's unit of work and stages `identity.user.standing_changed`
 * (OAuth revokes the user's grants on it). Call `publishStanding` once the change is flushed.
 */
export async function bumpStanding(
  user: UserRow,
  reason: StandingReason,
  clock: Clock,
  publish: Publish,
): Promise<void> {
  user.standingVersion = (user.standingVersion ?? 0) + 1;
  user.standingChangedAt = clock.date();
  await publish(
    'identity.user.standing_changed',
    { id: user.id, reason, version: user.standingVersion },
    { key: user.id },
  );
}

/** After the flush: this instance (and every instance on a shared cache) sees the new version at once. */
export async function publishStanding(
  em: EntityManager,
  cache: Cache,
  clock: Clock,
  users: Array<{ id: string; standingVersion: number }>,
): Promise<void> {
  if (!users.length) return;
  await Promise.all(
    users.map((u) => cache.set(standingKey(u.id), u.standingVersion, { ttlMs: STANDING_TTL_MS, pinned: true })),
  );
  // API keys are cached by hash for a minute: drop them, so the next use reads the owner again.
  // Keys revoked in the last minutes too (a reset revokes them just before this runs); older ones are out of the cache.
  const recent = new Date(clock.now() - 5 * 60_000);
  const keys = await em.find<ApiKeyRow>(
    'IdentityApiKey',
    { userId: { $in: users.map((u) => u.id) }, $or: [{ revokedAt: null }, { revokedAt: { $gt: recent } }] },
    { fields: ['hash'] as never },
  );
  await Promise.all(keys.map((k) => cache.delete(apiKeyCacheKey(k.hash))));
}

/**
 * Other instances' per-process state, brought up to date at most every `refreshMs` (the
 * staleness bound across instances that do not share a cache): custom roles, signing keys, and
 * the standing of users changed since the last look. Runs lazily on the request path (one query
 * per interval per table, shared by concurrent requests).
 */
export class InstanceSync {
  private checkedAt: number;
  private since: Date;
  private inflight?: Promise<void>;
  private tasks: Array<() => Promise<void>> = [];

  constructor(
    private orm: MikroORM,
    private cache: Cache,
    private clock: Clock,
    private logger: Logger,
    private refreshMs: number,
  ) {
    this.checkedAt = clock.now();
    this.since = clock.date();
  }

  /** Adds a reload to run on every refresh (e.g. the role catalog). */
  add(task: () => Promise<void>): void {
    this.tasks.push(task);
  }

  /** Whether `fresh` has a refresh to run or wait for (checked without a promise on the request path). */
  due(): boolean {
    return this.clock.now() - this.checkedAt >= this.refreshMs;
  }

  async fresh(): Promise<void> {
    if (!this.due()) return;
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = undefined;
    });
    await this.inflight;
  }

  private async refresh(): Promise<void> {
    const startedAt = this.clock.now();
    // A minute of overlap: neither a change committed while the last look ran nor clock skew
    // between instances makes it missed (users already up to date are skipped below).
    const since = new Date(this.since.getTime() - 60_000);
    try {
      const em = this.orm.em.fork();
      const changed = await em.find<UserRow>(
        'IdentityUser',
        { standingChangedAt: { $gt: since } },
        { fields: ['id', 'standingVersion'] as never },
      );
      const stale: Array<{ id: string; standingVersion: number }> = [];
      for (const u of changed) if ((await currentStanding(this.cache, u.id)) < u.standingVersion) stale.push(u);
      await publishStanding(em, this.cache, this.clock, stale);
      for (const task of this.tasks) await task();
      this.since = new Date(startedAt);
      this.checkedAt = startedAt;
    } catch (err) {
      // The database is down: keep serving from what is loaded, try again next interval.
      this.checkedAt = startedAt;
      this.logger.warn({ err: { message: (err as Error).name } }, 'instance sync failed');
    }
  }
}
