import { defineEntity } from '../../kernel/index.ts';

export type UserStatus = 'active' | 'suspended' | 'deleted';

export interface UserRow {
  id: string; email: string; name: string; passwordHash: string; role: string; status: UserStatus;
  emailVerified: boolean; mfaEnabled: boolean; mfaSecret: string | null; mfaLastStep: number | null;
  tier: string; settings: Record<string, unknown>; createdAt: Date; updatedAt: Date;
  /** Bumped by every change of standing (suspension, role, reset); tokens of an older version are refused. */
  standingVersion: number; standingChangedAt: Date | null;
  /** A requested new address, until it is confirmed from that address. */
  pendingEmail: string | null;
}
export interface SessionRow {
  id: string; userId: string; userAgent: string | null; ip: string | null; createdAt: Date; lastUsedAt: Date;
  expiresAt: Date; revokedAt: Date | null; impersonatorId: string | null; mfaAt: Date | null;
}
export interface RefreshTokenRow {
  id: string;
  sessionId: string;
  hash: string;
  usedAt: Date | null;
  expiresAt: Date;
  createdAt: Date;
}
export interface ApiKeyRow {
  id: string;
  userId: string;
  name: string;
  start: string;
  hash: string;
  scopes: string[];
  mode: string;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  rateLimit: { limit: number; windowMs: number } | null;
  createdAt: Date;
}
export interface SigningKeyRow {
  id: string;
  kid: string;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: Date;
  retiredAt: Date | null;
}
export interface AuditRow {
  id: string;
  actorId: string | null;
  impersonatorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  userAgent: string | null;
  oldValues: Record<string, unknown> | null;
  newValues: Record<string, unknown> | null;
  createdAt: Date;
}
export interface OneTimeTokenRow {
  id: string;
  userId: string;
  purpose: string;
  hash: string;
  data: Record<string, unknown> | null;
  expiresAt: Date;
  usedAt: Date | null;
  createdAt: Date;
}
export interface RoleRow {
  id: string;
  name: string;
  level: number;
  permissions: string[];
  description: string;
  createdAt: Date;
}

export const User = defineEntity({
  name: 'IdentityUser',
  table: 'identity_users',
  timestamps: true,
  properties: {
    email: { type: 'string', length: 320 },
    name: { type: 'string', length: 200 },
    passwordHash: { type: 'string', length: 200, hidden: true },
    role: { type: 'string', length: 50 },
    status: { type: 'string', length: 20 },
    emailVerified: { type: 'boolean' },
    mfaEnabled: { type: 'boolean' },
    mfaSecret: { type: 'text', nullable: true, hidden: true },
    mfaLastStep: { type: 'bigint', nullable: true },
    tier: { type: 'string', length: 50 },
    settings: { type: 'json' },
    standingVersion: { type: 'integer', default: 0 },
    standingChangedAt: { type: 'datetime', nullable: true },
    pendingEmail: { type: 'string', length: 320, nullable: true },
  },
  indexes: [
    { properties: ['email'], unique: true },
    { properties: ['role'] },
    { properties: ['status'] },
    { properties: ['standingChangedAt'] },
  ],
});

export const Session = defineEntity({
  name: 'IdentitySession',
  table: 'identity_sessions',
  properties: {
    userId: { type: 'string', length: 36 },
    userAgent: { type: 'string', length: 500, nullable: true },
    ip: { type: 'string', length: 64, nullable: true },
    createdAt: { type: 'datetime' },
    lastUsedAt: { type: 'datetime' },
    expiresAt: { type: 'datetime' },
    revokedAt: { type: 'datetime', nullable: true },
    impersonatorId: { type: 'string', length: 36, nullable: true },
    mfaAt: { type: 'datetime', nullable: true },
  },
  indexes: [{ properties: ['userId'] }],
});

export const RefreshToken = defineEntity({
  name: 'IdentityRefreshToken', table: 'identity_refresh_tokens',
  properties: {
    sessionId: { type: 'string', length: 36 }, hash: { type: 'string', length: 64, hidden: true },
    usedAt: { type: 'datetime', nullable: true }, expiresAt: { type: 'datetime' }, createdAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['hash'], unique: true }, { properties: ['sessionId'] }],
});

export const ApiKey = defineEntity({
  name: 'IdentityApiKey',
  table: 'identity_api_keys',
  properties: {
    userId: { type: 'string', length: 36 },
    name: { type: 'string', length: 100 },
    start: { type: 'string', length: 40 },
    hash: { type: 'string', length: 64, hidden: true },
    scopes: { type: 'json' },
    mode: { type: 'string', length: 10 },
    expiresAt: { type: 'datetime', nullable: true },
    lastUsedAt: { type: 'datetime', nullable: true },
    revokedAt: { type: 'datetime', nullable: true },
    rateLimit: { type: 'json', nullable: true },
    createdAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['hash'], unique: true }, { properties: ['userId'] }],
});

export const SigningKey = defineEntity({
  name: 'IdentitySigningKey', table: 'identity_signing_keys',
  properties: {
    kid: { type: 'string', length: 64 }, privateJwk: { type: 'json', hidden: true }, publicJwk: { type: 'json' },
    createdAt: { type: 'datetime' }, retiredAt: { type: 'datetime', nullable: true },
  },
  indexes: [{ properties: ['kid'], unique: true }],
});

export const AuditLog = defineEntity({
  name: 'IdentityAudit',
  table: 'identity_audit_log',
  properties: {
    actorId: { type: 'string', length: 36, nullable: true },
    action: { type: 'string', length: 100 },
    targetType: { type: 'string', length: 50, nullable: true },
    targetId: { type: 'string', length: 100, nullable: true },
    ip: { type: 'string', length: 64, nullable: true },
    userAgent: { type: 'string', length: 500, nullable: true },
    oldValues: { type: 'json', nullable: true },
    newValues: { type: 'json', nullable: true },
    createdAt: { type: 'datetime' },
    impersonatorId: { type: 'string', length: 36, nullable: true },
  },
  indexes: [
    { properties: ['actorId'] },
    { properties: ['targetId'] },
    { properties: ['action'] },
    { properties: ['createdAt'] },
  ],
});

export const OneTimeToken = defineEntity({
  name: 'IdentityOneTimeToken',
  table: 'identity_one_time_tokens',
  properties: {
    userId: { type: 'string', length: 36 },
    purpose: { type: 'string', length: 30 },
    hash: { type: 'string', length: 64, hidden: true },
    data: { type: 'json', nullable: true },
    expiresAt: { type: 'datetime' },
    usedAt: { type: 'datetime', nullable: true },
    createdAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['hash'], unique: true }, { properties: ['userId'] }],
});

export const Role = defineEntity({
  name: 'IdentityRole', table: 'identity_roles',
  properties: {
    name: { type: 'string', length: 50 }, level: { type: 'integer' }, permissions: { type: 'json' },
    description: { type: 'string', length: 500 }, createdAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['name'], unique: true }],
});

export const entities = [User, Session, RefreshToken, ApiKey, SigningKey, AuditLog, OneTimeToken, Role];
