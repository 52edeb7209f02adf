/**
 * The bare side of GET /v1/users/me, by hand: an RS256 key pair made with jose at start and
 * one access token signed with the identity plugin's claims (iss, aud, sub, sid, role, tier,
 * iat, exp, jti; kid and typ in the header); per request `jwtVerify` (RS256 only, issuer,
 * audience, required claims), a revoked-session lookup in a Map, the role's permissions, and
 * the user row read through a bare MikroORM (one EntitySchema, LibSQL on a temp SQLite file,
 * the table created here) with `em.fork().findOne(...)`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, jwtVerify, generateKeyPair, errors as joseErrors, type CryptoKey, type JWTPayload } from 'jose';
import { EntitySchema, MikroORM, type Options } from '@mikro-orm/core';
import { LibSqlDriver } from '@mikro-orm/libsql';
import { v7 as uuidv7 } from 'uuid';
import { ACCESS_TOKEN_TTL_SECONDS, BENCH_USER, TOKEN_AUDIENCE, TOKEN_ISSUER } from './shared.ts';

interface UserRow {
  id: string; email: string; name: string; passwordHash: string; role: string; status: string;
  emailVerified: boolean; mfaEnabled: boolean; mfaSecret: string | null; mfaLastStep: number | null;
  tier: string; settings: Record<string, unknown>; createdAt: Date; updatedAt: Date;
}

const UserSchema = new EntitySchema<UserRow>({
  name: 'BareUser',
  tableName: 'users',
  properties: {
    id: { type: 'string', primary: true, length: 36 },
    email: { type: 'string', length: 320 },
    name: { type: 'string', length: 200 },
    passwordHash: { type: 'string', length: 200, hidden: true },
    role: { type: 'string', length: 50 },
    status: { type: 'string', length: 20 },
    emailVerified: { type: 'boolean' },
    mfaEnabled: { type: 'boolean' },
    mfaSecret: { type: 'string', length: 200, nullable: true, hidden: true },
    mfaLastStep: { type: 'integer', nullable: true },
    tier: { type: 'string', length: 50 },
    settings: { type: 'json' },
    createdAt: { type: 'datetime' },
    updatedAt: { type: 'datetime' },
  },
});

const CREATE_TABLE = `create table users (
  id varchar(36) not null primary key, email varchar(320) not null, name varchar(200) not null,
  password_hash varchar(200) not null, role varchar(50) not null, status varchar(20) not null,
  email_verified boolean not null, mfa_enabled boolean not null, mfa_secret varchar(200) null,
  mfa_last_step bigint null, tier varchar(50) not null, settings json not null,
  created_at datetime not null, updated_at datetime not null)`;
const INDEXES = [
  'create unique index users_email_unique on users (email)',
  'create index users_role_index on users (role)',
  'create index users_status_index on users (status)',
];

const SETTINGS = {
  notifications: { email: true, product: false },
  theme: 'system', language: 'en', timezone: 'UTC',
  privacy: { profilePublic: true, showActivity: false },
  ai: { defaultModel: null, temperature: null, saveHistory: true },
};

/** What a signed-in `user` may do (the identity plugin's built-in role). */
const ROLE_PERMISSIONS: Record<string, string[]> = {
  user: ['profile:read', 'profile:write', 'apikeys:manage', 'sessions:manage'],
};

interface Claims extends JWTPayload { sub: string; sid?: string; role?: string; tier?: string; cid?: string }

export interface Principal { id: string; sessionId: string; role: string; tier: string; permissions: string[] }

export class AuthError extends Error {
  constructor(readonly code: string, message: string) { super(message); }
}

const iso = (d: Date | string | number | null | undefined) =>
  d === null || d === undefined ? null : new Date(d).toISOString();

export class BareIdentity {
  /** `revoked-sid:<sid>` -> expiry (ms); nothing is revoked in the bench, the lookup is the work. */
  readonly revoked = new Map<string, number>();

  private constructor(
    private readonly orm: MikroORM,
    private readonly dir: string,
    private readonly keys: Map<string, CryptoKey>,
    readonly token: string,
  ) {}

  static async start(): Promise<BareIdentity> {
    const dir = mkdtempSync(join(tmpdir(), 'kernel-bench-bare-db-'));
    const orm = await MikroORM.init({
      driver: LibSqlDriver,
      dbName: join(dir, 'bench.db'),
      entities: [UserSchema],
      discovery: { warnWhenNoEntities: false },
      allowGlobalContext: false,
      forceUtcTimezone: true,
      debug: false,
      ensureIndexes: false,
    } as Options);
    try {
      const connection = orm.em.getConnection();
      await connection.execute(CREATE_TABLE);
      for (const sql of INDEXES) await connection.execute(sql);
      const em = orm.em.fork();
      const now = new Date();
      const user = em.create(UserSchema, {
        id: uuidv7(), email: BENCH_USER.email, name: BENCH_USER.name,
        passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$${'x'.repeat(22)}$${'y'.repeat(43)}`,
        role: 'user', status: 'active', emailVerified: false, mfaEnabled: false, mfaSecret: null, mfaLastStep: null,
        tier: 'free', settings: SETTINGS, createdAt: now, updatedAt: now,
      });
      await em.flush();

      const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
      const kid = uuidv7();
      const iat = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ sub: user.id, sid: uuidv7(), role: user.role, tier: user.tier })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ACCESS_TOKEN_TTL_SECONDS)
        .setJti(uuidv7())
        .sign(privateKey);
      return new BareIdentity(orm, dir, new Map([[kid, publicKey]]), token);
    } catch (e) {
      await orm.close(true);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Bearer token -> principal; throws AuthError (401) on any problem with the token. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!authorization) throw new AuthError('UNAUTHORIZED', 'Authentication is required');
    const [scheme, token] = authorization.split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !token)
      throw new AuthError('INVALID_AUTHORIZATION', 'Use Authorization: Bearer <token>');
    let claims: Claims;
    try {
      const { payload } = await jwtVerify<Claims>(token, (header) => {
        const key = header.kid ? this.keys.get(header.kid) : undefined;
        if (!key) throw new Error('unknown kid');
        return key;
      }, {
        algorithms: ['RS256'],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        currentDate: new Date(),
        requiredClaims: ['sub', 'exp', 'jti'],
      });
      if (!payload.sid) throw new Error('not a session token');
      claims = payload;
    } catch (e) {
      const expired = e instanceof joseErrors.JWTExpired;
      throw new AuthError(
        expired ? 'TOKEN_EXPIRED' : 'INVALID_TOKEN',
        expired ? 'The access token has expired' : 'The access token is invalid',
      );
    }
    const revokedUntil = this.revoked.get(`revoked-sid:${claims.sid}`);
    if (revokedUntil !== undefined) {
      if (revokedUntil > Date.now()) throw new AuthError('SESSION_REVOKED', 'The session has ended');
      this.revoked.delete(`revoked-sid:${claims.sid}`);
    }
    return {
      id: claims.sub,
      sessionId: claims.sid!,
      role: claims.role ?? '',
      tier: claims.tier ?? 'free',
      permissions: ROLE_PERMISSIONS[claims.role ?? ''] ?? [],
    };
  }

  /** The account as its owner sees it, or undefined when there is no such (live) account. */
  async me(userId: string) {
    const u = await this.orm.em.fork().findOne(UserSchema, { id: userId, status: { $ne: 'deleted' } });
    if (!u) return undefined;
    return {
      id: u.id,
      email: u.email,
      name: u.name,
      role: u.role,
      status: u.status,
      tier: u.tier,
      emailVerified: u.emailVerified,
      mfaEnabled: u.mfaEnabled,
      createdAt: iso(u.createdAt)!,
      updatedAt: iso(u.updatedAt)!,
    };
  }

  async close(): Promise<void> {
    try { await this.orm.close(true); } finally { rmSync(this.dir, { recursive: true, force: true }); }
  }
}
