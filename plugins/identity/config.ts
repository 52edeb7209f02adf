import type { PasswordPolicy } from './policy.ts';

export interface IdentityConfig {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  /** A rotated refresh token presented again within this many seconds loses the race but does not revoke the family. */
  refreshReuseGraceSeconds: number;
  apiKeyPrefix: string;
  apiKeys: { maxPerUser: number };
  requireEmailVerification: boolean;
  resetTokenTtlMinutes: number;
  verifyTokenTtlHours: number;
  impersonationTtlMinutes: number;
  passwordPolicy: PasswordPolicy;
  links: { verifyEmail: string; resetPassword: string; undoEmailChange: string };
  mfa: { requiredForAdmin: boolean; stepUpMaxAgeSeconds: number };
  login: { freeFailures: number; maxBackoffSeconds: number; ipFailuresPerWindow: number; ipWindowSeconds: number };
  /** How stale another instance's roles, signing keys and users' standing may be, at most (without a shared cache). */
  instanceSyncSeconds: number;
  /** The built-in roles this deployment has (seed 001: user and admin); `user` is every new account's. */
  roles?: string[];
}

export const identityConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    issuer: { type: 'string', default: 'api-kernel' },
    audience: { type: 'string', default: 'api-kernel' },
    accessTokenTtlSeconds: { type: 'integer', minimum: 30, maximum: 86400, default: 900 },
    refreshTokenTtlDays: { type: 'integer', minimum: 1, maximum: 365, default: 30 },
    refreshReuseGraceSeconds: { type: 'integer', minimum: 0, maximum: 60, default: 10 },
    apiKeyPrefix: { type: 'string', pattern: '^[a-z][a-z0-9]{1,11}$', default: 'sk' },
    apiKeys: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxPerUser: {
          type: 'integer',
          minimum: 1,
          maximum: 10000,
          default: 25,
          description: 'Unrevoked API keys one user may hold.',
        },
      },
    },
    requireEmailVerification: { type: 'boolean', default: false },
    resetTokenTtlMinutes: { type: 'integer', minimum: 5, maximum: 1440, default: 60 },
    roles: {
      type: 'array', uniqueItems: true, minItems: 1, contains: { const: 'user' },
      items: { enum: ['user', 'premium', 'moderator', 'admin', 'super_admin'] },
      default: ['user', 'premium', 'moderator', 'admin', 'super_admin'],
      description: 'The built-in roles this deployment has (must include user). The top one is the bootstrap admin\'s.',
    },
    verifyTokenTtlHours: { type: 'integer', minimum: 1, maximum: 720, default: 48 },
    impersonationTtlMinutes: { type: 'integer', minimum: 1, maximum: 120, default: 15 },
    instanceSyncSeconds: {
      type: 'integer',
      minimum: 0,
      maximum: 300,
      default: 5,
      description:
        "Each instance re-reads custom roles, signing keys and recent changes of users' standing at most this often (0: on every request).",
    },
    passwordPolicy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        minLength: { type: 'integer', minimum: 8, maximum: 128, default: 8 },
        maxLength: { type: 'integer', minimum: 8, maximum: 1024, default: 128 },
        requireUpper: { type: 'boolean', default: true },
        requireLower: { type: 'boolean', default: true },
        requireDigit: { type: 'boolean', default: true },
        requireSpecial: { type: 'boolean', default: true },
      },
    },
    links: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Links put in emails; {token} is replaced.',
      properties: {
        verifyEmail: { type: 'string', default: 'http://localhost:3000/verify-email?token={token}' },
        resetPassword: { type: 'string', default: 'http://localhost:3000/reset-password?token={token}' },
        undoEmailChange: { type: 'string', default: 'http://localhost:3000/undo-email-change?token={token}' },
      },
    },
    mfa: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        requiredForAdmin: {
          type: 'boolean',
          default: false,
          description: 'Admin operations need a TOTP proof younger than stepUpMaxAgeSeconds.',
        },
        stepUpMaxAgeSeconds: { type: 'integer', minimum: 60, default: 900 },
      },
    },
    login: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Brute-force throttle: after `freeFailures` failures per account+IP, or `ipFailuresPerWindow` per IP, each attempt waits twice as long, up to `maxBackoffSeconds`. Counts expire after a quiet window: never a permanent lockout.',
      properties: {
        freeFailures: { type: 'integer', minimum: 1, default: 5 },
        maxBackoffSeconds: { type: 'integer', minimum: 1, default: 900 },
        ipFailuresPerWindow: { type: 'integer', minimum: 1, default: 50 },
        ipWindowSeconds: { type: 'integer', minimum: 60, default: 900 },
      },
    },
  },
};
