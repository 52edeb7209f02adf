/**
 * The baselines' bearer check, by hand with `jose`: an RS256 key pair made at start, one
 * access token with the identity plugin's claims, and per request `jwtVerify` (RS256 only,
 * issuer, audience, required claims), a revoked-session lookup in a Map (the kernel's memory
 * cache holds the same set) and the role's permissions.
 */
import { SignJWT, jwtVerify, generateKeyPair, errors as joseErrors, type CryptoKey, type JWTPayload } from 'jose';
import { v7 as uuidv7 } from 'uuid';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from './shared.ts';

/** The identity plugin's built-in `user` role, with the notes plugin's permissions. */
const ROLE_PERMISSIONS: Record<string, string[]> = {
  user: ['profile:read', 'profile:write', 'apikeys:manage', 'sessions:manage', 'notes:read', 'notes:write'],
};
/** Long enough for any bench run (the kernel's bench token lives as long). */
export const BENCH_TOKEN_TTL_SECONDS = 3600;

export interface RawPrincipal { id: string; sessionId: string; role: string; tier: string; permissions: string[] }

export class RawAuthError extends Error {
  constructor(readonly status: 401 | 403, readonly code: string, message: string) { super(message); }
}

interface Claims extends JWTPayload { sub: string; sid?: string; role?: string; tier?: string }

export class RawAuth {
  /** `revoked-sid:<sid>` -> expiry (ms); nothing is revoked in the bench, the lookup is the work. */
  readonly revoked = new Map<string, number>();
  /** BENCH_PEER_TOKEN_CACHE=1: the baselines keep verified claims until exp too, as the kernel does. */
  private readonly verified = process.env.BENCH_PEER_TOKEN_CACHE === '1' ? new Map<string, Claims>() : undefined;
  private constructor(private readonly publicKey: CryptoKey, readonly token: string) {}

  static async start(userId: string): Promise<RawAuth> {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sid: uuidv7(), role: 'user', tier: 'free' })
      .setProtectedHeader({ alg: 'RS256', kid: uuidv7(), typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE).setSubject(userId)
      .setIssuedAt(now).setExpirationTime(now + BENCH_TOKEN_TTL_SECONDS).setJti(uuidv7())
      .sign(privateKey);
    return new RawAuth(publicKey, token);
  }

  /** The principal of `Authorization: Bearer <token>` holding `permission`; throws RawAuthError. */
  async authenticate(authorization: string | undefined, permission: string): Promise<RawPrincipal> {
    if (!authorization) throw new RawAuthError(401, 'UNAUTHORIZED', 'Authentication is required');
    const [scheme, token] = authorization.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token)
      throw new RawAuthError(401, 'INVALID_AUTHORIZATION', 'Use Authorization: Bearer <token>');
    let claims: Claims;
    try {
      const hit = this.verified?.get(token);
      if (hit && hit.exp! > Date.now() / 1000) claims = hit;
      else {
        ({ payload: claims } = (await jwtVerify(token, this.publicKey, {
          algorithms: ['RS256'], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, requiredClaims: ['sub', 'exp', 'jti'],
        })) as { payload: Claims });
        this.verified?.set(token, claims);
      }
    } catch (e) {
      const expired = e instanceof joseErrors.JWTExpired;
      throw new RawAuthError(
        401,
        expired ? 'TOKEN_EXPIRED' : 'INVALID_TOKEN',
        expired ? 'The access token has expired' : 'The access token is invalid',
      );
    }
    const revokedUntil = this.revoked.get(`revoked-sid:${claims.sid}`);
    if (revokedUntil !== undefined && revokedUntil > Date.now())
      throw new RawAuthError(401, 'SESSION_REVOKED', 'The session has ended');
    const permissions = ROLE_PERMISSIONS[claims.role ?? ''] ?? [];
    if (!permissions.includes(permission))
      throw new RawAuthError(403, 'FORBIDDEN', 'You do not have permission to do this');
    return {
      id: claims.sub,
      sessionId: claims.sid!,
      role: claims.role ?? '',
      tier: claims.tier ?? 'free',
      permissions,
    };
  }
}
