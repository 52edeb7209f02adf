import { errors, type Authenticator, type Cache } from '../../kernel/index.ts';
import type { ApiKeyService } from './apiKeys.ts';
import type { RoleCatalog } from './roles.ts';
import type { SigningKeys } from './signing.ts';
import { revokedKey } from './sessions.ts';

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * `bearerAuth`: an RS256 access token (refused if its session was revoked), or an API key
 * sent as a Bearer token. `apiKey`: the `X-API-Key` header.
 */
export function bearerAuthenticator(deps: { signing: SigningKeys; cache: Cache; roles: RoleCatalog; apiKeyPrefix: string; apiKeys: () => ApiKeyService }): Authenticator {
  return async ({ headers }) => {
    const value = header(headers.authorization);
    if (!value) return undefined;
    const [scheme, token] = value.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token) throw errors.unauthorized('Use Authorization: Bearer <token>', 'INVALID_AUTHORIZATION');
    if (token.startsWith(`${deps.apiKeyPrefix}_`)) return deps.apiKeys().authenticate(token);
    const claims = await deps.signing.verify(token);
    if (await deps.cache.has(revokedKey(claims.sid))) throw errors.unauthorized('The session has ended', 'SESSION_REVOKED');
    return {
      type: 'user', id: claims.sub, sessionId: claims.sid, role: claims.role, tier: claims.tier,
      permissions: deps.roles.permissionsOf(claims.role), rateLimitKey: `user:${claims.sub}`,
      ...(claims.imp ? { impersonatorId: claims.imp } : {}),
    };
  };
}

export function apiKeyAuthenticator(apiKeys: () => ApiKeyService): Authenticator {
  return async ({ headers }) => {
    const key = header(headers['x-api-key']);
    return key ? apiKeys().authenticate(key) : undefined;
  };
}
