import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { errors, type Clock } from '../../kernel/index.ts';
import type { AccessClaims } from './signing.ts';

/** Where the verifier gets a signing key's public JWK (SigningKeys.jwkFor: looks again after a rotation elsewhere). */
export interface PublicKeySource { jwkFor(kid: string): Promise<JWK> }

export interface VerifierOptions { issuer: string; audience: string; maxEntries?: number }

const DEFAULT_MAX_ENTRIES = 10_000;
const invalid = () => errors.unauthorized('The access token is invalid', 'INVALID_TOKEN');
const expired = () => errors.unauthorized('The access token has expired', 'TOKEN_EXPIRED');

/**
 * RS256 access-token verification, once per token: the signature is checked with a
 * node:crypto KeyObject (made once per signing key, synchronous, no WebCrypto job), the
 * claims as jose's `jwtVerify` checks them (RS256 only, iss, aud, exp, nbf, required sub,
 * exp, jti and a sid or cid). A verified token's claims are then kept, in a bounded LRU map,
 * until its `exp`; a cached hit costs one map lookup. Revocation is not cached: callers check
 * it on every request (bearerAuthenticator), so a logout still refuses the token at once.
 */
export class TokenVerifier {
  private readonly verified = new Map<string, AccessClaims>();
  private readonly keys = new WeakMap<JWK, KeyObject>();
  private readonly max: number;

  constructor(
    private readonly source: PublicKeySource,
    private readonly clock: Clock,
    private readonly options: VerifierOptions,
  ) {
    this.max = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** The claims of a valid token; throws a 401 AppError (`TOKEN_EXPIRED` or `INVALID_TOKEN`). */
  async verify(token: string): Promise<AccessClaims> {
    const hit = this.verifiedNow(token);
    if (hit) return hit;
    const claims = await this.check(token, this.clock.now() / 1000);
    if (this.verified.size >= this.max) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
    return claims;
  }

  /**
   * `verify` for a token verified before, without a promise: its claims (throws `TOKEN_EXPIRED` once it has
   * expired), or undefined for a token not verified yet (then `verify` it).
   */
  verifiedNow(token: string): AccessClaims | undefined {
    const hit = this.verified.get(token);
    if (!hit) return undefined;
    this.verified.delete(token);
    if (hit.exp! > this.clock.now() / 1000) {
      this.verified.set(token, hit);
      return hit;
    }
    throw expired();
  }

  /** How many verified tokens are kept (for tests). */
  get size(): number { return this.verified.size; }

  private async check(token: string, nowSeconds: number): Promise<AccessClaims> {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts[2]) throw invalid();
    const header = decodeSegment(parts[0]);
    if (!header || header.alg !== 'RS256' || typeof header.kid !== 'string' || 'crit' in header) throw invalid();
    if (header.b64 === false) throw invalid();
    let key: KeyObject;
    try {
      key = this.keyObject(await this.source.jwkFor(header.kid));
    } catch {
      throw invalid();
    }
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!verifySignature('RSA-SHA256', signed, key, Buffer.from(parts[2], 'base64url'))) throw invalid();
    const claims = decodeSegment(parts[1]) as AccessClaims | undefined;
    if (!claims) throw invalid();
    const { iss, aud, sub, exp, jti, nbf, iat } = claims;
    if (iss !== this.options.issuer) throw invalid();
    if (!(Array.isArray(aud) ? aud.includes(this.options.audience) : aud === this.options.audience)) throw invalid();
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') throw invalid();
    if (iat !== undefined && typeof iat !== 'number') throw invalid();
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) throw invalid();
    if (!claims.sid && !claims.cid) throw invalid();
    if (exp <= nowSeconds) throw expired();
    return claims;
  }

  private keyObject(jwk: JWK): KeyObject {
    let key = this.keys.get(jwk);
    if (!key) {
      if (jwk.kty !== 'RSA') throw new Error('not an RSA key');
      key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      this.keys.set(jwk, key);
    }
    return key;
  }
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    return isObject ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
