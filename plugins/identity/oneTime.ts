import type { EntityManager } from '@mikro-orm/core';
import { errors, type Clock } from '../../kernel/index.ts';
import type { OneTimeTokenRow } from './entities.ts';
import { randomToken, sha256 } from './crypto.ts';

export type Purpose = 'verify_email' | 'reset_password' | 'mfa_recovery' | 'undo_email_change';

/** Single-use secrets (email verification, password reset, MFA recovery codes), stored hashed. */
export class OneTimeTokens {
  constructor(
    private em: EntityManager,
    private clock: Clock,
  ) {}

  issue(
    userId: string,
    purpose: Purpose,
    ttlMs: number,
    options: { data?: Record<string, unknown>; token?: string } = {},
  ): string {
    const token = options.token ?? randomToken(32);
    const now = this.clock.now();
    this.em.create<OneTimeTokenRow>('IdentityOneTimeToken', {
      userId,
      purpose,
      hash: sha256(token),
      data: options.data ?? null,
      expiresAt: new Date(now + ttlMs),
      usedAt: null,
      createdAt: new Date(now),
    } as OneTimeTokenRow);
    return token;
  }

  /** Uses the token up, or throws a 400. Exactly one concurrent caller can win. */
  async consume(token: string, purpose: Purpose, userId?: string): Promise<OneTimeTokenRow> {
    const row = await this.em.findOne<OneTimeTokenRow>('IdentityOneTimeToken', {
      hash: sha256(token),
      purpose,
      ...(userId ? { userId } : {}),
    });
    const now = this.clock.date();
    if (!row || row.usedAt || new Date(row.expiresAt) <= now) throw invalid(purpose);
    const won = await this.em.nativeUpdate<OneTimeTokenRow>(
      'IdentityOneTimeToken',
      { id: row.id, usedAt: null },
      { usedAt: now },
    );
    if (won !== 1) throw invalid(purpose);
    return row;
  }

  async revokeAll(userId: string, purpose: Purpose): Promise<void> {
    await this.em.nativeDelete<OneTimeTokenRow>('IdentityOneTimeToken', { userId, purpose, usedAt: null });
  }
}

function invalid(purpose: Purpose) {
  return errors.validation([
    {
      field: purpose === 'mfa_recovery' ? 'body.recoveryCode' : 'body.token',
      code: 'invalid_token',
      message: 'is invalid, expired or already used',
    },
  ]);
}
