import {
  AppError, deferCheck, errors, type Authenticator, type Cache, type Clock, type Principal,
} from '../../kernel/index.ts';
import type { AccessClaims } from './signing.ts';
import type { ApiKeyService } from './apiKeys.ts';
import type { RoleCatalog } from './roles.ts';
import type { TokenVerifier } from './tokenVerifier.ts';
import { revokedKey } from './sessions.ts';

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Rejects when the cache holds `key`: a revoked session or token. */
function refusedIf(cache: Cache, key: string, message: string, code: string): Promise<void> {
  return cache.has(key).then((revoked) => { if (revoked) throw errors.unauthorized(message, code); });
}

/**
 * `bearerAuth`: an RS256 access token (refused if its session was revoked), or an API key
 * sent as a Bearer token. `apiKey`: the `X-API-Key` header. A token's signature and claims
 * are verified once and kept until it expires (TokenVerifier); the revocation lookup runs on
 * every request, handed to the kernel (deferCheck) so it goes alongside the rate limiter's call.
 */
export function bearerAuthenticator(deps: { verifier: TokenVerifier; cache: Cache; roles: RoleCatalog; clock: Clock; apiKeyPrefix: string; mfa: { requiredForAdmin: boolean; stepUpMaxAgeSeconds: number }; apiKeys: () => ApiKeyService }): Authenticator {
  return async ({ headers, permissions }) => {
    const value = header(headers.authorization);
    if (!value) return undefined;
    const [scheme, token] = value.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token) throw errors.unauthorized('Use Authorization: Bearer <token>', 'INVALID_AUTHORIZATION');
    if (token.startsWith(`${deps.apiKeyPrefix}_`)) return deps.apiKeys().authenticate(token);
    const claims = await deps.verifier.verify(token);
    if (claims.cid) return clientPrincipal(claims, deps);
    const revoked = refusedIf(deps.cache, revokedKey(claims.sid!), 'The session has ended', 'SESSION_REVOKED');
    if (deps.mfa.requiredForAdmin && permissions.some((p) => p === '*' || p.startsWith('admin:'))) {
      const age = claims.mfa ? deps.clock.now() / 1000 - claims.mfa : Infinity;
      if (age > deps.mfa.stepUpMaxAgeSeconds) {
        await revoked;
        throw new AppError(403, claims.mfa ? 'MFA_STEP_UP_REQUIRED' : 'MFA_REQUIRED', claims.mfa
          ? `This operation needs an MFA proof younger than ${deps.mfa.stepUpMaxAgeSeconds} s: POST /auth/mfa/step-up`
          : 'This operation needs MFA: enable it and sign in with a code');
      }
    }
    return deferCheck({
      type: 'user', id: claims.sub, sessionId: claims.sid, role: claims.role, tier: claims.tier,
      permissions: deps.roles.permissionsOf(claims.role ?? ''), rateLimitKey: `user:${claims.sub}`,
      ...(claims.imp ? { impersonatorId: claims.imp } : {}),
      ...(claims.mfa ? { mfaAt: claims.mfa } : {}),
    }, revoked);
  };
}

/**
 * An OAuth access token: its scopes, narrowed to what the user's role holds when it acts for
 * a user (`role` claim). Revocation (RFC 7009) is a revoked-jti entry in the cache.
 */
function clientPrincipal(claims: AccessClaims, deps: { cache: Cache; roles: RoleCatalog }): Principal {
  const revoked = refusedIf(deps.cache, revokedJtiKey(claims.jti!), 'The access token was revoked', 'TOKEN_REVOKED');
  return deferCheck(clientClaimsPrincipal(claims, deps.roles), revoked);
}

function clientClaimsPrincipal(claims: AccessClaims, roles: RoleCatalog): Principal {
  const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
  if (!claims.role) {
    return { type: 'client', id: claims.sub, clientId: claims.cid, permissions: scopes, scopes, rateLimitKey: `client:${claims.cid}` };
  }
  const held = roles.permissionsOf(claims.role);
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
