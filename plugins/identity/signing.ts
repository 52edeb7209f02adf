import type { JWK, CryptoKey, JWTPayload } from 'jose';

/** jose, loaded by start() (a config check at boot should not pay for it). */
let jose: typeof import('jose');

type KeyLike = CryptoKey | Uint8Array;
import type { MikroORM } from '@mikro-orm/core';
import { errors, type Clock, type IdGenerator, type Secrets } from '../../kernel/index.ts';
import type { SigningKeyRow } from './entities.ts';

export interface AccessClaims extends JWTPayload {
  sub: string;
  /** Session id; absent on OAuth tokens. */
  sid?: string;
  role?: string;
  tier?: string;
  /** Impersonating admin. */
  imp?: string;
  /** When the session last proved MFA (epoch seconds). */
  mfa?: number;
  /** The standing version of the user (`sub`, or `own` for a client token) when the token was issued. */
  sv?: number;
  /** The user who owns the OAuth client, on client-credentials tokens. */
  own?: string;
  /** OAuth client id, on tokens issued through /oauth/token. */
  cid?: string;
  /** Space-separated OAuth scopes. */
  scope?: string;
}

interface LoadedKey {
  kid: string;
  privateKey?: KeyLike;
  publicKey: KeyLike;
  publicJwk: JWK;
  retiredAt: Date | null;
  createdAt: Date;
}

/**
 * RS256 signing keys, kept in the database so every instance signs and verifies with the
 * same set. Rotation makes a new active key; retired keys keep verifying (and stay in the
 * JWKS) until every token they signed has expired.
 */
export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private active?: LoadedKey;
  /** Kids looked up and not found, with when: a flood of made-up kids costs one light query per kid. */
  private recentMisses = new Map<string, number>();
  private lookup?: Promise<void>;
  private fingerprint = '';
  /** Brings this instance up to date with the others before signing (see InstanceSync). */
  private sync?: { fresh(): Promise<void> };

  constructor(
    private orm: MikroORM,
    private ids: IdGenerator,
    private clock: Clock,
    private options: { issuer: string; audience: string; accessTtlSeconds: number },
    private secrets: Secrets,
  ) {}

  async start(): Promise<void> {
    jose ??= await import('jose');
    await this.resealStored();
    await this.reload();
    if (!this.active) await this.rotate();
  }

  /** The stored form of a private JWK: sealed with the deployment's KEK, bound to its kid. */
  private sealJwk(kid: string, jwk: object): Record<string, unknown> {
    return { sealed: this.secrets.seal(JSON.stringify(jwk), `identity.signing:${kid}`) };
  }

  /** Reads both the sealed form and legacy plaintext rows (written before encryption at rest). */
  private openJwk(row: SigningKeyRow): JWK {
    const sealed = (row.privateJwk as { sealed?: unknown }).sealed;
    return this.secrets.isSealed(sealed)
      ? (JSON.parse(this.secrets.open(sealed, `identity.signing:${row.kid}`)) as JWK)
      : (row.privateJwk as JWK);
  }

  /** Seals plaintext rows and re-seals rows under a retired KEK, so a rotation completes at the next boot. */
  private async resealStored(): Promise<void> {
    const em = this.orm.em.fork();
    const rows = await em.find<SigningKeyRow>('IdentitySigningKey', {});
    for (const row of rows) {
      const sealed = (row.privateJwk as { sealed?: unknown }).sealed;
      if (this.secrets.isSealed(sealed) && !this.secrets.needsReseal(sealed)) continue;
      row.privateJwk = this.sealJwk(row.kid, this.openJwk(row));
    }
    await em.flush();
  }

  /** Makes a new active key; the old one is retired and still verifies for one access-token lifetime. */
  async rotate(): Promise<string> {
    const em = this.orm.em.fork();
    const now = this.clock.date();
    const current = await em.find<SigningKeyRow>('IdentitySigningKey', { retiredAt: null });
    for (const k of current) k.retiredAt = now;
    const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const kid = this.ids.next();
    const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    const privateJwk = this.sealJwk(kid, { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256' });
    em.create<SigningKeyRow>('IdentitySigningKey', {
      kid,
      privateJwk,
      publicJwk,
      createdAt: now,
      retiredAt: null,
    } as unknown as SigningKeyRow);
    await em.flush();
    await this.reload();
    return kid;
  }

  useSync(sync: { fresh(): Promise<void> }): void {
    this.sync = sync;
  }

  /** Reloads when another instance rotated (a new kid, or a key retired): a light query otherwise. */
  async reloadIfChanged(): Promise<void> {
    const rows = await this.orm.em
      .fork()
      .find<SigningKeyRow>(
        'IdentitySigningKey',
        {},
        { fields: ['kid', 'retiredAt'] as never, orderBy: { createdAt: 'asc' } },
      );
    if (fingerprintOf(rows) !== this.fingerprint) await this.reload();
  }

  private async reload(): Promise<void> {
    const em = this.orm.em.fork();
    const horizon = new Date(this.clock.now() - this.options.accessTtlSeconds * 1000 - 60_000);
    const rows = await em.find<SigningKeyRow>('IdentitySigningKey', {}, { orderBy: { createdAt: 'asc' } });
    this.fingerprint = fingerprintOf(rows);
    const keys = new Map<string, LoadedKey>();
    for (const row of rows) {
      if (row.retiredAt && new Date(row.retiredAt) < horizon) continue;
      keys.set(row.kid, {
        kid: row.kid,
        publicKey: (await jose.importJWK(row.publicJwk as JWK, 'RS256')) as KeyLike,
        privateKey: row.retiredAt ? undefined : ((await jose.importJWK(this.openJwk(row), 'RS256')) as KeyLike),
        publicJwk: row.publicJwk as JWK,
        retiredAt: row.retiredAt ? new Date(row.retiredAt) : null,
        createdAt: new Date(row.createdAt),
      });
    }
    this.keys = keys;
    this.active = [...keys.values()].filter((k) => !k.retiredAt).at(-1);
  }

  jwks(): { keys: JWK[] } {
    return { keys: [...this.keys.values()].map((k) => k.publicJwk) };
  }

  async sign(
    claims: Omit<AccessClaims, 'iss' | 'aud' | 'exp' | 'iat' | 'jti'>,
    ttlSeconds = this.options.accessTtlSeconds,
    jti = this.ids.next(),
  ): Promise<string> {
    await this.sync?.fresh();
    const key = this.active;
    if (!key?.privateKey) throw errors.unavailable('signing key');
    const now = Math.floor(this.clock.now() / 1000);
    return new jose.SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(jti)
      .sign(key.privateKey);
  }

  /** Verifies signature, algorithm (RS256 only), issuer, audience and expiry. Throws a 401. */
  async verify(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jose.jwtVerify(token, (header) => this.keyFor(header.kid), {
        algorithms: ['RS256'],
        issuer: this.options.issuer,
        audience: this.options.audience,
        currentDate: this.clock.date(),
        requiredClaims: ['sub', 'exp', 'jti'],
      });
      if (!payload.sid && !payload.cid) throw new Error('neither a session nor a client token');
      return payload as AccessClaims;
    } catch (e) {
      const expired = e instanceof jose.errors.JWTExpired;
      throw errors.unauthorized(
        expired ? 'The access token has expired' : 'The access token is invalid',
        expired ? 'TOKEN_EXPIRED' : 'INVALID_TOKEN',
      );
    }
  }

  /** The public JWK of `kid`, looked up again (at most every 10 s) when another instance rotated; throws if unknown. */
  async jwkFor(kid: string): Promise<JWK> {
    await this.keyFor(kid);
    return this.keys.get(kid)!.publicJwk;
  }

  private async keyFor(kid: string | undefined): Promise<KeyLike> {
    if (!kid || kid.length > 64) throw new Error('no usable kid');
    let key = this.keys.get(kid);
    // Another instance may have made a key since our last load (a rotation, or two instances
    // bootstrapping at once): look again now, once per unknown kid per 10 s, one lookup at a time.
    const missedAt = this.recentMisses.get(kid);
    if (!key && (missedAt === undefined || this.clock.now() - missedAt >= 10_000)) {
      this.lookup ??= this.reloadIfChanged().finally(() => (this.lookup = undefined));
      await this.lookup;
      key = this.keys.get(kid);
      if (!key) this.rememberMiss(kid);
    }
    if (!key) throw new Error('unknown kid');
    return key.publicKey;
  }

  private rememberMiss(kid: string): void {
    const now = this.clock.now();
    this.recentMisses.delete(kid);
    for (const [k, at] of this.recentMisses) {
      if (now - at < 10_000 && this.recentMisses.size < 1000) break;
      this.recentMisses.delete(k); // oldest first: the map is in the order misses happened
    }
    this.recentMisses.set(kid, now);
  }
}

const fingerprintOf = (rows: Array<Pick<SigningKeyRow, 'kid' | 'retiredAt'>>) =>
  rows.map((r) => `${r.kid}:${r.retiredAt ? new Date(r.retiredAt).getTime() : ''}`).join(',');
