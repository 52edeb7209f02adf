import type { SubscriberDefinition } from '../../kernel/index.ts';
import type { GrantRow, RefreshTokenRow } from './entities.ts';

/**
 * A change of the user's standing (suspension, role change, password reset, erasure) ends every
 * authorization they gave: grants are revoked and refresh tokens deleted. Their access tokens are
 * already refused by identity (they carry the old standing version). Idempotent on redelivery.
 */
export const standingSubscriber: SubscriberDefinition = {
  event: 'identity.user.standing_changed',
  name: 'revoke-grants',
  async handle(event, { em, services }) {
    const userId = (event.data as { id: string }).id;
    await em.nativeUpdate<GrantRow>('OAuthGrant', { userId, revokedAt: null }, { revokedAt: services.clock.date() });
    await em.nativeDelete<RefreshTokenRow>('OAuthRefreshToken', { userId });
  },
};
