import type { EntityManager } from '@mikro-orm/core';
import { errors, type Cache, type Clock } from '../../kernel/index.ts';
import type { IdentityConfig } from './config.ts';
import type { RefreshTokenRow, SessionRow, UserRow } from './entities.ts';
import { randomToken, sha256 } from './crypto.ts';
import type { SigningKeys } from './signing.ts';
import type { AuditLog } from './audit.ts';
import { userView } from './views.ts';
import { bumpStanding, publishStanding, type StandingReason } from './standing.ts';

export interface ClientInfo { ip: string | null; userAgent: string | null }
export type Publish = (type: string, data: unknown, options?: { key?: string }) => Promise<unknown>;

/** Cache key of a revoked session: access tokens carrying this `sid` are refused until they expire anyway. */
export const revokedKey = (sid: string) => `revoked-sid:${sid}`;

/**
 * Sessions and their tokens. A login starts a session (one refresh-token family); every
 * refresh rotates the token. Presenting a rotated token again revokes the whole family,
 * except within the grace window, where it just loses the race (see README).
 */
export class SessionService {
  constructor(
    private em: EntityManager,
    private cache: Cache,
    private clock: Clock,
    private signing: SigningKeys,
    private audit: AuditLog,
    private publish: Publish,
    private config: IdentityConfig,
  ) {}

  async start(
    user: UserRow,
    client: ClientInfo,
    options: { impersonatorId?: string; ttlSeconds?: number; mfaAt?: Date } = {},
  ) {
    const now = this.clock.date();
    const ttlMs = (options.ttlSeconds ?? this.config.refreshTokenTtlDays * 86400) * 1000;
    const session = this.em.create<SessionRow>('IdentitySession', {
      userId: user.id,
      userAgent: client.userAgent?.slice(0, 500) ?? null,
      ip: client.ip,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + ttlMs),
      revokedAt: null,
      impersonatorId: options.impersonatorId ?? null,
      mfaAt: options.mfaAt ?? null,
    } as SessionRow);
    const refreshToken = this.newRefreshToken(session.id, session.expiresAt);
    await this.em.flush();
    return this.tokens(user, session, refreshToken);
  }

  async refresh(presented: string, client: ClientInfo) {
    const now = this.clock.date();
    const row = await this.em.findOne<RefreshTokenRow>('IdentityRefreshToken', { hash: sha256(presented) });
    if (!row) throw errors.unauthorized('The refresh token is invalid', 'INVALID_REFRESH_TOKEN');
    const session = await this.em.findOne<SessionRow>('IdentitySession', { id: row.sessionId });
    if (!session || session.revokedAt || new Date(session.expiresAt) <= now || new Date(row.expiresAt) <= now) {
      throw errors.unauthorized('The session has ended', 'SESSION_ENDED');
    }
    // Exactly one concurrent refresh can flip used_at from null.
    const won = await this.em.nativeUpdate<RefreshTokenRow>(
      'IdentityRefreshToken',
      { id: row.id, usedAt: null },
      { usedAt: now },
    );
    if (won !== 1) {
      const usedAt = row.usedAt ? new Date(row.usedAt).getTime() : now.getTime();
      if (now.getTime() - usedAt <= this.config.refreshReuseGraceSeconds * 1000) {
        throw errors.unauthorized(
          'This refresh token was just used by a concurrent request',
          'REFRESH_TOKEN_ALREADY_USED',
        );
      }
      await this.revoke(session, 'refresh_token_reuse');
      await this.audit.record(
        {
          actorId: session.userId,
          action: 'auth.refresh_reuse',
          targetType: 'session',
          targetId: session.id,
          ...client,
        },
        { flush: true },
      );
      throw errors.unauthorized(
        'The refresh token was already used; the session has been revoked',
        'REFRESH_TOKEN_REUSED',
      );
    }
    const user = await this.em.findOne<UserRow>('IdentityUser', { id: session.userId });
    if (!user || user.status !== 'active') throw errors.unauthorized('The account is not active', 'ACCOUNT_INACTIVE');
    session.lastUsedAt = now;
    if (client.ip) session.ip = client.ip;
    const next = this.newRefreshToken(session.id, session.expiresAt);
    await this.em.flush();
    return this.tokens(user, session, next);
  }

  async list(userId: string): Promise<SessionRow[]> {
    return this.em.find<SessionRow>(
      'IdentitySession',
      { userId, revokedAt: null, expiresAt: { $gt: this.clock.date() } },
      { orderBy: { lastUsedAt: 'desc' } },
    );
  }

  /** Ends one of the user's sessions; another user's session is a 404. */
  async end(userId: string, sessionId: string, reason: string): Promise<void> {
    const session = await this.em.findOne<SessionRow>('IdentitySession', { id: sessionId, userId, revokedAt: null });
    if (!session) throw errors.notFound('Session not found');
    await this.revoke(session, reason);
  }

  async endAll(userId: string, reason: string, exceptSessionId?: string): Promise<number> {
    const sessions = (await this.em.find<SessionRow>('IdentitySession', { userId, revokedAt: null })).filter(
      (s) => s.id !== exceptSessionId,
    );
    await this.revokeMany(sessions, reason);
    return sessions.length;
  }

  async revoke(session: SessionRow, reason: string): Promise<void> {
    await this.revokeMany([session], reason);
  }

  /**
   * Marks the sessions revoked and stages their events in the same unit of work (one flush,
   * with whatever else the caller changed), then puts their ids in the revoked set.
   */
  private async revokeMany(sessions: SessionRow[], reason: string): Promise<void> {
    const now = this.clock.date();
    for (const session of sessions) {
      session.revokedAt = now;
      await this.publish(
        'identity.session.revoked',
        { sessionId: session.id, userId: session.userId, reason },
        { key: session.userId },
      );
    }
    await this.em.flush();
    const ttlMs = (this.config.accessTokenTtlSeconds + 60) * 1000;
    await Promise.all(
      sessions.map((session) => this.cache.set(revokedKey(session.id), reason, { ttlMs, pinned: true })),
    );
  }

  /**
   * A change of standing, staged in this unit of work: every token issued before it is refused
   * from now on (see standing.ts), and OAuth drops the user's grants on the event.
   */
  async bumpStanding(user: UserRow, reason: StandingReason): Promise<void> {
    await bumpStanding(user, reason, this.clock, this.publish);
  }

  /** After the flush of a standing change: every session ends, and the new version is visible at once. */
  async afterStandingChange(user: UserRow, reason: StandingReason): Promise<void> {
    await this.endAll(user.id, reason);
    await publishStanding(this.em, this.cache, this.clock, [user]);
  }

  private newRefreshToken(sessionId: string, expiresAt: Date): string {
    const token = randomToken(32);
    this.em.create<RefreshTokenRow>('IdentityRefreshToken', {
      sessionId,
      hash: sha256(token),
      usedAt: null,
      expiresAt,
      createdAt: this.clock.date(),
    } as RefreshTokenRow);
    return token;
  }

  /** An access token for an existing session (after a step-up); the refresh token is unchanged. */
  async accessTokenFor(user: UserRow, session: SessionRow) {
    return {
      accessToken: await this.sign(user, session),
      tokenType: 'Bearer' as const,
      expiresIn: this.config.accessTokenTtlSeconds,
    };
  }

  private sign(user: UserRow, session: SessionRow): Promise<string> {
    return this.signing.sign({
      sub: user.id,
      sid: session.id,
      role: user.role,
      tier: user.tier,
      sv: user.standingVersion ?? 0,
      ...(session.impersonatorId ? { imp: session.impersonatorId } : {}),
      ...(session.mfaAt ? { mfa: Math.floor(new Date(session.mfaAt).getTime() / 1000) } : {}),
    });
  }

  private async tokens(user: UserRow, session: SessionRow, refreshToken: string) {
    const accessToken = await this.sign(user, session);
    return {
      accessToken,
      refreshToken,
      tokenType: 'Bearer' as const,
      expiresIn: this.config.accessTokenTtlSeconds,
      user: userView(user),
    };
  }
}
