import { errors, type Authenticator, type Cache, type Principal } from '../../kernel/index.ts';
import type { AccessClaims } from './signing.ts';
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
    if (claims.cid) return clientPrincipal(claims, deps);
    if (await deps.cache.has(revokedKey(claims.sid!))) throw errors.unauthorized('The session has ended', 'SESSION_REVOKED');
    return {
      type: 'user', id: claims.sub, sessionId: claims.sid, role: claims.role, tier: claims.tier,
      permissions: deps.roles.permissionsOf(claims.role ?? ''), rateLimitKey: `user:${claims.sub}`,
      ...(claims.imp ? { impersonatorId: claims.imp } : {}),
    };
  };
}

/**
 * An OAuth access token: its scopes, narrowed to what the user's role holds when it acts for
 * a user (`role` claim). Revocation (RFC 7009) is a revoked-jti entry in the cache.
 */
async function clientPrincipal(claims: AccessClaims, deps: { cache: Cache; roles: RoleCatalog }): Promise<Principal> {
  if (await deps.cache.has(revokedJtiKey(claims.jti!))) throw errors.unauthorized('The access token was revoked', 'TOKEN_REVOKED');
  const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
  if (!claims.role) {
    return { type: 'client', id: claims.sub, clientId: claims.cid, permissions: scopes, scopes, rateLimitKey: `client:${claims.cid}` };
  }
  const held = deps.roles.permissionsOf(claims.role);
  const permissions = held.includes('*') ? scopes : scopes.filter((s) => held.includes(s));
  return { type: 'user', id: claims.sub, clientId: claims.cid, role: claims.role, tier: claims.tier, permissions, scopes, rateLimitKey: `client:${claims.cid}:${claims.sub}` };
}

export const revokedJtiKey = (jti: string) => `revoked-jti:${jti}`;

export function apiKeyAuthenticator(apiKeys: () => ApiKeyService): Authenticator {
  return async ({ headers }) => {
    const key = header(headers['x-api-key']);
    return key ? apiKeys().authenticate(key) : undefined;
  };
}
