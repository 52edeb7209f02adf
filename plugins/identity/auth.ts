import {
  AppError, deferCheck, errors, type Authenticator, type Cache, type Clock, type Principal,
} from '../../kernel/index.ts';
import type { AccessClaims } from './signing.ts';
import type { ApiKeyService } from './apiKeys.ts';
import type { RoleCatalog } from './roles.ts';
import type { TokenVerifier } from './tokenVerifier.ts';
import { revokedKey } from './sessions.ts';
import { standingKey } from './standing.ts';

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Rejects when the cache holds `key` (a revoked session or token), else when the token predates its user's last
 * change of standing (assertStanding): both lookups at once, one promise to wait for.
 */
function revocationChecks(cache: Cache, claims: AccessClaims, key: string, message: string, code: string) {
  const userId = standingUser(claims);
  if (!userId) return cache.has(key).then((revoked) => { if (revoked) throw errors.unauthorized(message, code); });
  return Promise.all([cache.has(key), cache.get<number>(standingKey(userId))]).then(([revoked, version]) => {
    if (revoked) throw errors.unauthorized(message, code);
    if ((claims.sv ?? 0) < (version ?? 0)) throw standingRevoked();
  });
}

type MfaRule = { clock: Clock; mfa: { requiredForAdmin: boolean; stepUpMaxAgeSeconds: number } };
/** Per-process state brought up to date lazily (InstanceSync); `due` says, without a promise, whether to wait. */
type Sync = { fresh(): Promise<void>; due?(): boolean };
type BearerDeps = MfaRule & {
  verifier: TokenVerifier; cache: Cache; roles: RoleCatalog; apiKeyPrefix: string;
  apiKeys: () => ApiKeyService; sync?: Sync;
};

/**
 * `bearerAuth`: an RS256 access token (refused if its session was revoked or its user's standing
 * changed since it was issued), or an API key sent as a Bearer token. `apiKey`: the `X-API-Key`
 * header. A token's signature and claims are verified once and kept until it expires
 * (TokenVerifier); the revocation lookups run on every request, handed to the kernel
 * (deferCheck) so they go alongside the rate limiter's call.
 */
export function bearerAuthenticator(deps: BearerDeps): Authenticator {
  return async ({ headers, permissions }) => {
    const value = header(headers.authorization);
    if (!value) return undefined;
    // The common case (nothing to refresh, a token verified before) waits for no promise until the deferred checks.
    if (deps.sync && (!deps.sync.due || deps.sync.due())) await deps.sync.fresh();
    const [scheme, token] = value.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token) {
      throw errors.unauthorized('Use Authorization: Bearer <token>', 'INVALID_AUTHORIZATION');
    }
    if (token.startsWith(`${deps.apiKeyPrefix}_`)) {
      return requireAdminMfa(await deps.apiKeys().authenticate(token), permissions, deps);
    }
    const claims = deps.verifier.verifiedNow(token) ?? await deps.verifier.verify(token);
    if (claims.cid) return requireAdminMfa(clientPrincipal(claims, deps), permissions, deps);
    const checks = revocationChecks(deps.cache, claims, revokedKey(claims.sid!), 'The session has ended',
      'SESSION_REVOKED');
    const principal = deferCheck({
      type: 'user', id: claims.sub, sessionId: claims.sid, role: claims.role, tier: claims.tier,
      credential: claims.imp ? 'impersonation' : 'session',
      permissions: deps.roles.permissionsOf(claims.role ?? ''), rateLimitKey: `user:${claims.sub}`,
      ...(claims.imp ? { impersonatorId: claims.imp } : {}),
      ...(claims.mfa ? { mfaAt: claims.mfa } : {}),
    }, checks);
    return needsAdminMfa(permissions, deps) ? requireAdminMfa(principal, permissions, deps, checks) : principal;
  };
}

/** True for permissions that `mfa.requiredForAdmin` guards. */
export const isAdminPermission = (p: string) => p === '*' || p.startsWith('admin:');

/**
 * `mfa.requiredForAdmin` holds for every principal type: an operation that needs an admin
 * permission needs a session with an MFA proof younger than `stepUpMaxAgeSeconds`. API keys
 * and OAuth tokens carry no MFA proof, so such deployments refuse them on admin operations.
 * A revoked credential still answers 401, not this 403: the revocation checks settle first.
 */
function needsAdminMfa(permissions: string[], deps: MfaRule): boolean {
  return deps.mfa.requiredForAdmin && permissions.some(isAdminPermission);
}

async function requireAdminMfa(
  principal: Principal, permissions: string[], deps: MfaRule, checks?: Promise<unknown>,
): Promise<Principal> {
  if (!needsAdminMfa(permissions, deps)) return principal;
  const mfaAt = typeof principal.mfaAt === 'number' ? principal.mfaAt : undefined;
  const age = mfaAt ? deps.clock.now() / 1000 - mfaAt : Infinity;
  if (age <= deps.mfa.stepUpMaxAgeSeconds) return principal;
  await checks;
  if (principal.credential !== 'session' && principal.credential !== 'impersonation') {
    throw new AppError(403, 'MFA_REQUIRED',
      'Admin operations need a signed-in session with MFA here; API keys and OAuth tokens cannot carry an MFA proof');
  }
  throw new AppError(403, mfaAt ? 'MFA_STEP_UP_REQUIRED' : 'MFA_REQUIRED', mfaAt
    ? `This operation needs an MFA proof younger than ${deps.mfa.stepUpMaxAgeSeconds} s: POST /auth/mfa/step-up`
    : 'This operation needs MFA: enable it and sign in with a code');
}

/**
 * An OAuth access token: its scopes, narrowed to what the user's role holds when it acts for
 * a user (`role` claim). Revocation (RFC 7009) is a revoked-jti entry in the cache.
 */
function clientPrincipal(claims: AccessClaims, deps: { cache: Cache; roles: RoleCatalog }): Principal {
  const checks = revocationChecks(deps.cache, claims, revokedJtiKey(claims.jti!), 'The access token was revoked',
    'TOKEN_REVOKED');
  return deferCheck(clientClaimsPrincipal(claims, deps.roles), checks);
}

function clientClaimsPrincipal(claims: AccessClaims, roles: RoleCatalog): Principal {
  const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
  if (!claims.role) {
    return {
      type: 'client', credential: 'oauthClient', id: claims.sub, clientId: claims.cid, permissions: scopes, scopes,
      rateLimitKey: `client:${claims.cid}`,
    };
  }
  const held = roles.permissionsOf(claims.role);
  const permissions = held.includes('*') ? scopes : scopes.filter((s) => held.includes(s));
  return {
    type: 'user', credential: 'oauthUser', id: claims.sub, clientId: claims.cid, role: claims.role, tier: claims.tier,
    permissions, scopes, rateLimitKey: `client:${claims.cid}:${claims.sub}`, budgetKey: `user:${claims.sub}`,
  };
}

export const revokedJtiKey = (jti: string) => `revoked-jti:${jti}`;

/**
 * The user whose standing backs a token: a token issued before its user's last change of standing
 * (suspension, role change, password reset, erasure) is refused: session tokens, OAuth tokens acting
 * for the user, and client tokens of a client the user owns (`own`).
 */
function standingUser(claims: AccessClaims): string | undefined {
  return claims.cid ? (claims.role ? claims.sub : claims.own) : claims.sub;
}

const standingRevoked = () =>
  errors.unauthorized('The credentials were revoked by a change to the account', 'CREDENTIALS_REVOKED');

export function apiKeyAuthenticator(
  apiKeys: () => ApiKeyService, deps: MfaRule, sync?: Sync,
): Authenticator {
  return async ({ headers, permissions }) => {
    const key = header(headers['x-api-key']);
    if (!key) return undefined;
    await sync?.fresh();
    return requireAdminMfa(await apiKeys().authenticate(key), permissions, deps);
  };
}
