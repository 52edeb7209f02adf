import type { EntityManager } from '@mikro-orm/core';
import type { Clock } from '../../kernel/index.ts';
import type { IdentityTokens } from '../identity/api.ts';
import type { AccessTokenRow, GrantRow, RefreshTokenRow } from './entities.ts';

export const ms = (d: Date | string | number): number => new Date(d).getTime();

/** Issues access tokens (remembering their jti) and revokes grants and clients with every token they hold. */
export class TokenStore {
  constructor(
    private em: EntityManager,
    private clock: Clock,
    private identity: IdentityTokens,
  ) {}

  async issueAccessToken(
    claims: { sub: string; cid: string; scope: string; role?: string; tier?: string; own?: string },
    ttlSeconds: number,
    grantId: string | null,
  ) {
    const issued = await this.identity.issueAccessToken(claims, ttlSeconds);
    this.em.create<AccessTokenRow>('OAuthAccessToken', {
      jti: issued.jti,
      clientId: claims.cid,
      userId: claims.role ? claims.sub : null,
      grantId,
      expiresAt: new Date(issued.expiresAt),
      createdAt: this.clock.date(),
    } as AccessTokenRow);
    return issued;
  }

  /** Revokes a grant: its refresh tokens stop working and its unexpired access tokens are refused. */
  async revokeGrant(grantId: string): Promise<void> {
    await this.em.nativeUpdate<GrantRow>(
      'OAuthGrant',
      { id: grantId, revokedAt: null },
      { revokedAt: this.clock.date() },
    );
    await this.revokeAccessTokens({ grantId });
  }

  /** Everything issued to a client: grants, refresh tokens (deleted) and access tokens. */
  async revokeClient(clientId: string): Promise<void> {
    await this.em.nativeUpdate<GrantRow>('OAuthGrant', { clientId, revokedAt: null }, { revokedAt: this.clock.date() });
    await this.em.nativeDelete<RefreshTokenRow>('OAuthRefreshToken', { clientId });
    await this.revokeAccessTokens({ clientId });
  }

  private async revokeAccessTokens(where: { grantId: string } | { clientId: string }): Promise<void> {
    const live = await this.em.find<AccessTokenRow>('OAuthAccessToken', {
      ...where,
      expiresAt: { $gt: this.clock.date() },
    });
    for (const row of live) await this.identity.revokeAccessToken(row.jti, ms(row.expiresAt));
  }
}
