import { defineEntity } from '../../kernel/index.ts';

export type ClientType = 'confidential' | 'public';

export interface ClientRow {
  id: string; ownerId: string; name: string; type: ClientType; secretHash: string | null;
  redirectUris: string[]; scopes: string[]; createdAt: Date; updatedAt: Date;
}
/**
 * One authorization a user gave a client: its code (single use) and the family of refresh
 * and access tokens issued from it. Revoking the grant revokes all of them.
 */
export interface GrantRow {
  id: string; clientId: string; userId: string; scope: string; redirectUri: string;
  codeHash: string; codeChallenge: string; codeExpiresAt: Date; codeUsedAt: Date | null;
  revokedAt: Date | null; createdAt: Date;
}
export interface RefreshTokenRow {
  id: string; grantId: string; clientId: string; userId: string; hash: string;
  usedAt: Date | null; expiresAt: Date; createdAt: Date;
}
/** Every access token issued, so a grant's or a client's tokens can be revoked by jti. */
export interface AccessTokenRow {
  id: string;
  jti: string;
  clientId: string;
  userId: string | null;
  grantId: string | null;
  expiresAt: Date;
  createdAt: Date;
}

export const Client = defineEntity({
  name: 'OAuthClient',
  table: 'oauth_clients',
  timestamps: true,
  properties: {
    ownerId: { type: 'string', length: 36 },
    name: { type: 'string', length: 100 },
    type: { type: 'string', length: 20 },
    secretHash: { type: 'string', length: 64, nullable: true, hidden: true },
    redirectUris: { type: 'json' },
    scopes: { type: 'json' },
  },
  indexes: [{ properties: ['ownerId'] }],
});

export const Grant = defineEntity({
  name: 'OAuthGrant',
  table: 'oauth_grants',
  properties: {
    clientId: { type: 'string', length: 36 },
    userId: { type: 'string', length: 36 },
    scope: { type: 'text' },
    redirectUri: { type: 'string', length: 2000 },
    codeHash: { type: 'string', length: 64, hidden: true },
    codeChallenge: { type: 'string', length: 64 },
    codeExpiresAt: { type: 'datetime' },
    codeUsedAt: { type: 'datetime', nullable: true },
    revokedAt: { type: 'datetime', nullable: true },
    createdAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['codeHash'], unique: true }, { properties: ['clientId'] }, { properties: ['userId'] }],
});

export const RefreshToken = defineEntity({
  name: 'OAuthRefreshToken',
  table: 'oauth_refresh_tokens',
  properties: {
    grantId: { type: 'string', length: 36 },
    clientId: { type: 'string', length: 36 },
    userId: { type: 'string', length: 36 },
    hash: { type: 'string', length: 64, hidden: true },
    usedAt: { type: 'datetime', nullable: true },
    expiresAt: { type: 'datetime' },
    createdAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['hash'], unique: true }, { properties: ['grantId'] }, { properties: ['clientId'] }],
});

export const AccessToken = defineEntity({
  name: 'OAuthAccessToken',
  table: 'oauth_access_tokens',
  properties: {
    jti: { type: 'string', length: 64 },
    clientId: { type: 'string', length: 36 },
    userId: { type: 'string', length: 36, nullable: true },
    grantId: { type: 'string', length: 36, nullable: true },
    expiresAt: { type: 'datetime' },
    createdAt: { type: 'datetime' },
  },
  indexes: [{ properties: ['jti'], unique: true }, { properties: ['grantId'] }, { properties: ['clientId'] }],
});

export const entities = [Client, Grant, RefreshToken, AccessToken];
