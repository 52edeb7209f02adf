import type { MikroORM } from '@mikro-orm/core';
import type { Cache, Clock } from '../../kernel/index.ts';
import type { SigningKeys, AccessClaims } from './signing.ts';
import type { RoleCatalog } from './roles.ts';
import type { UserRow } from './entities.ts';
import { revokedJtiKey } from './auth.ts';
import { currentStanding } from './standing.ts';
import type { TokenVerifier } from './tokenVerifier.ts';

/**
 * What identity exports to plugins that issue tokens on its behalf (the `oauth` plugin):
 * signing with identity's keys, verifying, revoking by jti, and reading a user's standing.
 * Resolved as `identityTokens` by plugins that list identity in `requires`.
 */
export interface IdentityTokens {
  issuer: string;
  /**
   * Signs an access token; `cid` marks it as an OAuth token, `role` makes it act for user `sub`,
   * `own` names the user who owns the client (client credentials). Either user's later change of
   * standing (suspension, role, reset) revokes the token.
   */
  issueAccessToken(
    claims: { sub: string; cid: string; scope: string; role?: string; tier?: string; own?: string },
    ttlSeconds: number,
  ): Promise<{ token: string; jti: string; expiresAt: number }>;
  /** Verifies signature, issuer, audience and expiry (throws a 401 AppError). Does not check revocation. */
  verifyAccessToken(token: string): Promise<AccessClaims>;
  /** Revoked by jti, or (given the claims) issued before its user's last change of standing. */
  isRevoked(jti: string, claims?: AccessClaims): Promise<boolean>;
  /** Refuses the token from now until it would have expired anyway. */
  revokeAccessToken(jti: string, expiresAtMs: number): Promise<void>;
  /** An active user's role, tier and permissions, or undefined. */
  userStanding(userId: string): Promise<{ role: string; tier: string; permissions: string[] } | undefined>;
}

export function identityTokens(deps: {
  signing: SigningKeys;
  tokenVerifier: TokenVerifier;
  cache: Cache;
  clock: Clock;
  roles: RoleCatalog;
  orm: MikroORM;
  ids: { next(): string };
  config: { issuer: string };
}): IdentityTokens {
  return {
    issuer: deps.config.issuer,
    async issueAccessToken(claims, ttlSeconds) {
      const jti = deps.ids.next();
      const userId = claims.role ? claims.sub : claims.own;
      const user = userId ? await deps.orm.em.fork().findOne<UserRow>('IdentityUser', { id: userId }) : null;
      const token = await deps.signing.sign(
        { ...claims, ...(user ? { sv: user.standingVersion ?? 0 } : {}) },
        ttlSeconds,
        jti,
      );
      return { token, jti, expiresAt: deps.clock.now() + ttlSeconds * 1000 };
    },
    verifyAccessToken: (token) => deps.tokenVerifier.verify(token),
    async isRevoked(jti, claims) {
      if (await deps.cache.has(revokedJtiKey(jti))) return true;
      const userId = claims ? (claims.role ? claims.sub : claims.own) : undefined;
      return Boolean(userId && (claims!.sv ?? 0) < (await currentStanding(deps.cache, userId)));
    },
    async revokeAccessToken(jti, expiresAtMs) {
      const ttlMs = Math.max(1000, expiresAtMs - deps.clock.now() + 60_000);
      await deps.cache.set(revokedJtiKey(jti), true, { ttlMs, pinned: true });
    },
    async userStanding(userId) {
      const user = await deps.orm.em.fork().findOne<UserRow>('IdentityUser', { id: userId });
      if (!user || user.status !== 'active') return undefined;
      return { role: user.role, tier: user.tier, permissions: deps.roles.permissionsOf(user.role) };
    },
  };
}
