import type { EntityManager } from '@mikro-orm/core';
import { AppError, errors, type Clock, type Principal } from '../../kernel/index.ts';
import type { ClientRow, GrantRow, RefreshTokenRow } from './entities.ts';
import type { OAuthConfig } from './config.ts';
import type { AuthenticatedClient, ClientService, PermissionCatalog } from './clients.ts';
import type { IdentityTokens } from '../identity/api.ts';
import type { Operations } from './contract.gen.ts';

type Introspection = Operations['oauth.introspect']['response'];
import { ms, type TokenStore } from './store.ts';
import { CODE_VERIFIER, S256_CHALLENGE, randomToken, sha256, verifyPkce } from './crypto.ts';
import { OAuthError, parseScope, within, type OAuthErrorCode } from './rfc.ts';

export const GRANT_TYPES = ['authorization_code', 'client_credentials', 'refresh_token'] as const;
type Headers = Record<string, string | string[] | undefined>;

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

/** An authorization-endpoint error that goes back to the (validated) redirect URI, RFC 6749 §4.1.2.1. */
export class RedirectError extends Error {
  constructor(readonly redirectTo: string) {
    super('redirect');
    this.name = 'RedirectError';
  }
}

/** A checked authorization request: the client, where to answer, and the scopes the user would grant. */
export interface AuthorizationRequest {
  client: ClientRow;
  redirectUri: string;
  state?: string;
  scopes: string[];
  challenge: string;
  userId: string;
}

/** Appends parameters to a registered redirect URI, keeping its own query (RFC 6749 §3.1.2). */
export function redirectWith(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v);
  return url.toString();
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const missing = (params: Record<string, string>, names: string[]) => names.filter((n) => params[n] === undefined);

/** The token, revocation, introspection and authorization logic. Made per request. */
export class OAuthService {
  constructor(
    private em: EntityManager,
    private clock: Clock,
    private identity: IdentityTokens,
    private clients: ClientService,
    private store: TokenStore,
    private catalog: PermissionCatalog,
    private config: OAuthConfig,
  ) {}

  // ---- token endpoint (RFC 6749 §4.1.3, §4.4, §6) ----

  async token(params: Record<string, string>, headers: Headers): Promise<TokenResponse> {
    const grantType = params.grant_type;
    if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
    if (!(GRANT_TYPES as readonly string[]).includes(grantType))
      throw new OAuthError('unsupported_grant_type', `grant_type ${grantType.slice(0, 50)} is not supported`);
    const auth = await this.clients.authenticate(params, headers, { allowPublic: true });
    if (grantType === 'client_credentials') return this.clientCredentials(auth, params);
    if (grantType === 'authorization_code') return this.authorizationCode(auth, params);
    return this.refresh(auth, params);
  }

  private async clientCredentials(
    { client, owner }: AuthenticatedClient,
    params: Record<string, string>,
  ): Promise<TokenResponse> {
    if (client.type !== 'confidential')
      throw new OAuthError('unauthorized_client', 'client_credentials is for confidential clients only');
    const requested = parseScope(params.scope);
    if (requested === null) throw new OAuthError('invalid_scope', 'The scope is malformed');
    const beyond = (requested ?? []).filter((s) => !client.scopes.includes(s));
    if (beyond.length) throw new OAuthError('invalid_scope', `Not allowed for this client: ${beyond.join(' ')}`);
    // The client acts with its owner's authority: never more than the owner holds today.
    const scopes = within(requested ?? client.scopes, owner.permissions);
    if (!scopes.length) throw new OAuthError('invalid_scope', 'None of the requested scopes can be granted');
    const scope = scopes.join(' ');
    const ttl = this.config.accessTokenTtlSeconds;
    const issued = await this.store.issueAccessToken(
      { sub: client.id, cid: client.id, scope, own: client.ownerId },
      ttl,
      null,
    );
    await this.em.flush();
    return { access_token: issued.token, token_type: 'Bearer', expires_in: ttl, scope };
  }

  private async authorizationCode(
    { client }: AuthenticatedClient,
    params: Record<string, string>,
  ): Promise<TokenResponse> {
    const absent = missing(params, ['code', 'redirect_uri', 'code_verifier']);
    if (absent.length)
      throw new OAuthError(
        'invalid_request',
        `Missing: ${absent.join(', ')}${absent.includes('code_verifier') ? ' (PKCE is required)' : ''}`,
      );
    if (!CODE_VERIFIER.test(params.code_verifier))
      throw new OAuthError('invalid_request', 'code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~');
    const grant = await this.em.findOne<GrantRow>('OAuthGrant', { codeHash: sha256(params.code) });
    if (!grant || grant.clientId !== client.id)
      throw new OAuthError('invalid_grant', 'The authorization code is invalid');
    const now = this.clock.date();
    if (grant.codeUsedAt) return this.codeReused(grant);
    if (grant.revokedAt) throw new OAuthError('invalid_grant', 'The authorization code was revoked');
    if (ms(grant.codeExpiresAt) <= now.getTime())
      throw new OAuthError('invalid_grant', 'The authorization code has expired');
    if (grant.redirectUri !== params.redirect_uri)
      throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request');
    if (!verifyPkce(params.code_verifier, grant.codeChallenge))
      throw new OAuthError(
        'invalid_grant',
        'PKCE verification failed: the code_verifier does not match the code_challenge',
      );
    // Exactly one exchange can flip code_used_at from null.
    const won = await this.em.nativeUpdate<GrantRow>(
      'OAuthGrant',
      { id: grant.id, codeUsedAt: null },
      { codeUsedAt: now },
    );
    if (won !== 1) return this.codeReused(grant);
    return this.issueForGrant(client, grant, grant.scope.split(' '));
  }

  /** RFC 6749 §4.1.2: a code used twice is refused, and every token issued for it is revoked. */
  private async codeReused(grant: GrantRow): Promise<never> {
    await this.store.revokeGrant(grant.id);
    throw new OAuthError(
      'invalid_grant',
      'The authorization code was already used; the tokens issued for it are revoked',
    );
  }

  private async refresh({ client }: AuthenticatedClient, params: Record<string, string>): Promise<TokenResponse> {
    if (!params.refresh_token) throw new OAuthError('invalid_request', 'Missing: refresh_token');
    const row = await this.em.findOne<RefreshTokenRow>('OAuthRefreshToken', { hash: sha256(params.refresh_token) });
    if (!row || row.clientId !== client.id) throw new OAuthError('invalid_grant', 'The refresh token is invalid');
    const grant = await this.em.findOne<GrantRow>('OAuthGrant', { id: row.grantId });
    if (!grant || grant.revokedAt) throw new OAuthError('invalid_grant', 'The refresh token was revoked');
    if (row.usedAt) return this.refreshReused(grant);
    const now = this.clock.date();
    if (ms(row.expiresAt) <= now.getTime()) throw new OAuthError('invalid_grant', 'The refresh token has expired');
    const requested = parseScope(params.scope);
    if (requested === null) throw new OAuthError('invalid_scope', 'The scope is malformed');
    const granted = grant.scope.split(' ');
    const beyond = (requested ?? []).filter((s) => !granted.includes(s));
    if (beyond.length)
      throw new OAuthError('invalid_scope', `Beyond the scope originally granted: ${beyond.join(' ')}`);
    const won = await this.em.nativeUpdate<RefreshTokenRow>(
      'OAuthRefreshToken',
      { id: row.id, usedAt: null },
      { usedAt: now },
    );
    if (won !== 1) return this.refreshReused(grant);
    return this.issueForGrant(client, grant, requested ?? granted);
  }

  /** A rotated refresh token presented again: someone holds a copy. The whole grant is revoked. */
  private async refreshReused(grant: GrantRow): Promise<never> {
    await this.store.revokeGrant(grant.id);
    throw new OAuthError('invalid_grant', 'The refresh token was already used; every token of this grant is revoked');
  }

  /** An access token acting for the grant's user and a new refresh token in the same grant. */
  private async issueForGrant(client: ClientRow, grant: GrantRow, wanted: string[]): Promise<TokenResponse> {
    const standing = await this.identity.userStanding(grant.userId);
    if (!standing) {
      await this.store.revokeGrant(grant.id);
      throw new OAuthError('invalid_grant', 'The user is no longer active');
    }
    // Never more than the client may ask for and the user holds today.
    const scopes = within(
      wanted.filter((s) => client.scopes.includes(s)),
      standing.permissions,
    );
    if (!scopes.length) throw new OAuthError('invalid_scope', 'None of the requested scopes can still be granted');
    const scope = scopes.join(' ');
    const ttl = this.config.accessTokenTtlSeconds;
    const now = this.clock.now();
    const refreshToken = randomToken(32);
    this.em.create<RefreshTokenRow>('OAuthRefreshToken', {
      grantId: grant.id,
      clientId: client.id,
      userId: grant.userId,
      hash: sha256(refreshToken),
      usedAt: null,
      expiresAt: new Date(now + this.config.refreshTokenTtlDays * 86_400_000),
      createdAt: new Date(now),
    } as RefreshTokenRow);
    const issued = await this.store.issueAccessToken(
      { sub: grant.userId, cid: client.id, scope, role: standing.role, tier: standing.tier },
      ttl,
      grant.id,
    );
    await this.em.flush();
    // A concurrent reuse may have revoked the grant while these were being made: revoke them too.
    const fresh = await this.em.fork().findOne<GrantRow>('OAuthGrant', { id: grant.id });
    if (!fresh || fresh.revokedAt) {
      await this.store.revokeGrant(grant.id);
      throw new OAuthError('invalid_grant', 'The grant was revoked');
    }
    return { access_token: issued.token, token_type: 'Bearer', expires_in: ttl, scope, refresh_token: refreshToken };
  }

  // ---- revocation (RFC 7009) and introspection (RFC 7662) ----

  async revoke(params: Record<string, string>, headers: Headers): Promise<Record<string, never>> {
    const { client } = await this.clients.authenticate(params, headers, { allowPublic: true });
    if (!params.token) throw new OAuthError('invalid_request', 'Missing: token');
    const token = params.token;
    const accessFirst =
      params.token_type_hint === 'access_token' || (params.token_type_hint !== 'refresh_token' && looksLikeJwt(token));
    const attempts = accessFirst
      ? [() => this.revokeAccess(token, client), () => this.revokeRefresh(token, client)]
      : [() => this.revokeRefresh(token, client), () => this.revokeAccess(token, client)];
    for (const attempt of attempts) if (await attempt()) break;
    return {};
  }

  /** True when the token was found (revoked if it is this client's; another client's is left alone). */
  private async revokeRefresh(token: string, client: ClientRow): Promise<boolean> {
    const row = await this.em.findOne<RefreshTokenRow>('OAuthRefreshToken', { hash: sha256(token) });
    if (!row) return false;
    if (row.clientId === client.id) await this.store.revokeGrant(row.grantId);
    return true;
  }

  private async revokeAccess(token: string, client: ClientRow): Promise<boolean> {
    if (!looksLikeJwt(token)) return false;
    const claims = await this.identity.verifyAccessToken(token).catch(() => undefined);
    if (!claims) return false;
    if (claims.cid === client.id && claims.jti && claims.exp)
      await this.identity.revokeAccessToken(claims.jti, claims.exp * 1000);
    return true;
  }

  async introspect(params: Record<string, string>, headers: Headers): Promise<Introspection> {
    const { client } = await this.clients.authenticate(params, headers, { allowPublic: false });
    if (!params.token) throw new OAuthError('invalid_request', 'Missing: token');
    const token = params.token;
    const found = looksLikeJwt(token)
      ? await this.introspectAccess(token, client)
      : await this.introspectRefresh(token, client);
    return found ?? { active: false };
  }

  private async introspectAccess(token: string, client: ClientRow): Promise<Introspection | undefined> {
    const claims = await this.identity.verifyAccessToken(token).catch(() => undefined);
    if (!claims || !claims.cid || claims.cid !== client.id || !claims.jti) return undefined;
    if (await this.identity.isRevoked(claims.jti, claims)) return undefined;
    if (claims.role && !(await this.identity.userStanding(claims.sub))) return undefined;
    return {
      active: true,
      scope: claims.scope ?? '',
      client_id: claims.cid,
      sub: claims.sub,
      exp: claims.exp,
      iat: claims.iat,
      iss: claims.iss,
      jti: claims.jti,
      token_type: 'Bearer',
    };
  }

  private async introspectRefresh(token: string, client: ClientRow): Promise<Introspection | undefined> {
    const row = await this.em.findOne<RefreshTokenRow>('OAuthRefreshToken', { hash: sha256(token) });
    if (!row || row.clientId !== client.id || row.usedAt || ms(row.expiresAt) <= this.clock.now()) return undefined;
    const grant = await this.em.findOne<GrantRow>('OAuthGrant', { id: row.grantId });
    if (!grant || grant.revokedAt || !(await this.identity.userStanding(row.userId))) return undefined;
    return {
      active: true,
      scope: grant.scope,
      client_id: client.id,
      sub: row.userId,
      exp: Math.floor(ms(row.expiresAt) / 1000),
      iat: Math.floor(ms(row.createdAt) / 1000),
      iss: this.identity.issuer,
      token_type: 'refresh_token',
    };
  }

  // ---- authorization endpoint (RFC 6749 §4.1.1, RFC 7636) ----

  /**
   * Checks an authorization request. An unknown client or a redirect URI that is not exactly
   * a registered one is a 400 (never redirected to); every later problem is a RedirectError.
   */
  async checkAuthorization(
    principal: Principal | undefined,
    p: Record<string, unknown>,
  ): Promise<AuthorizationRequest> {
    if (!principal || principal.type !== 'user' || principal.clientId || typeof principal.sessionId !== 'string') {
      throw errors.forbidden('Consent can only be given by the user in a first-party session', 'CONSENT_NEEDS_SESSION');
    }
    if (principal.impersonatorId)
      throw errors.forbidden('Consent cannot be given while impersonating', 'CONSENT_NEEDS_SESSION');
    const client = await this.clients.find(str(p.client_id) ?? '');
    if (!client || !(await this.clients.ownerStanding(client)))
      throw new AppError(400, 'INVALID_CLIENT', 'Unknown or disabled client_id');
    const redirectUri = str(p.redirect_uri);
    if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
      throw new AppError(
        400,
        'INVALID_REDIRECT_URI',
        "redirect_uri is not one of the client's registered redirect URIs (compared exactly)",
      );
    }
    const standing = await this.identity.userStanding(principal.id);
    if (!standing) throw errors.forbidden('The account is not active', 'ACCOUNT_INACTIVE');

    const state = str(p.state);
    const fail = (error: OAuthErrorCode, description: string) =>
      new RedirectError(
        redirectWith(redirectUri, { error, error_description: description, state, iss: this.identity.issuer }),
      );
    const responseType = str(p.response_type);
    if (!responseType) throw fail('invalid_request', 'response_type is required');
    if (responseType !== 'code') throw fail('unsupported_response_type', 'Only response_type=code is supported');
    const challenge = str(p.code_challenge);
    if (!challenge) throw fail('invalid_request', 'code_challenge is required (PKCE)');
    const method = str(p.code_challenge_method);
    if (method !== 'S256')
      throw fail(
        'invalid_request',
        method
          ? 'Transform algorithm not supported: code_challenge_method must be S256'
          : 'code_challenge_method=S256 is required',
      );
    if (!S256_CHALLENGE.test(challenge))
      throw fail('invalid_request', 'code_challenge must be a base64url SHA-256 digest (43 characters)');
    const requested = parseScope(str(p.scope));
    if (requested === null) throw fail('invalid_scope', 'The scope is malformed');
    const beyond = (requested ?? []).filter((s) => !client.scopes.includes(s));
    if (beyond.length) throw fail('invalid_scope', `Not allowed for this client: ${beyond.join(' ')}`);
    // Consent grants at most what the user holds, by their role today and by this session.
    const scopes = within(within(requested ?? client.scopes, standing.permissions), principal.permissions);
    if (!scopes.length) throw fail('invalid_scope', 'You hold none of the requested scopes');
    return { client, redirectUri, state, scopes, challenge, userId: principal.id };
  }

  consent(req: AuthorizationRequest) {
    const described = new Map(this.catalog.map((p) => [p.name, p.description]));
    return {
      client: { id: req.client.id, name: req.client.name },
      redirectUri: req.redirectUri,
      scopes: req.scopes.map((name) => ({ name, description: described.get(name) ?? name })),
      ...(req.state !== undefined ? { state: req.state } : {}),
    };
  }

  /** The user's answer: a single-use, short-lived code on the redirect, or access_denied. */
  async decide(req: AuthorizationRequest, decision: 'approve' | 'deny'): Promise<string> {
    const iss = this.identity.issuer;
    if (decision !== 'approve') {
      return redirectWith(req.redirectUri, {
        error: 'access_denied',
        error_description: 'The user denied the request',
        state: req.state,
        iss,
      });
    }
    const code = randomToken(32);
    const now = this.clock.now();
    this.em.create<GrantRow>('OAuthGrant', {
      clientId: req.client.id,
      userId: req.userId,
      scope: req.scopes.join(' '),
      redirectUri: req.redirectUri,
      codeHash: sha256(code),
      codeChallenge: req.challenge,
      codeExpiresAt: new Date(now + this.config.codeTtlSeconds * 1000),
      codeUsedAt: null,
      revokedAt: null,
      createdAt: new Date(now),
    } as GrantRow);
    await this.em.flush();
    return redirectWith(req.redirectUri, { code, state: req.state, iss });
  }
}

function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}
