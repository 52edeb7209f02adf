import type { EntityManager, MikroORM } from '@mikro-orm/core';
import { AppError, errors, type Cache, type Clock, type Secrets } from '../../kernel/index.ts';
import type { SessionRow, UserRow } from './entities.ts';
import { randomToken, sha256 } from './crypto.ts';
import type { AuditLog } from './audit.ts';
import type { OneTimeTokens } from './oneTime.ts';
import type { ClientInfo, SessionService } from './sessions.ts';
import type { AccountService } from './accounts.ts';

const CHALLENGE_TTL_MS = 5 * 60_000;
const MAX_FAILURES = 5;
const RECOVERY_TTL_MS = 10 * 365 * 86_400_000;
const challengeKey = (token: string) => `mfa-challenge:${sha256(token)}`;

/**
 * TOTP (RFC 6238, via otplib) with single-use recovery codes. A code is refused if its time
 * step is not later than the last accepted one, so a code cannot be used twice.
 */
export class MfaService {
  constructor(
    private em: EntityManager,
    private cache: Cache,
    private clock: Clock,
    private audit: AuditLog,
    private oneTime: OneTimeTokens,
    private sessions: SessionService,
    private accounts: AccountService,
    private issuer: string,
    private secrets: Secrets,
  ) {}

  async setup(userId: string) {
    const user = await this.accounts.get(userId);
    if (user.mfaEnabled) throw errors.conflict('MFA is already enabled');
    const { generateSecret, generateURI } = await import('otplib');
    const secret = generateSecret();
    user.mfaSecret = sealTotpSecret(this.secrets, user.id, secret);
    await this.em.flush();
    return { secret, otpauthUrl: generateURI({ issuer: this.issuer, label: user.email, secret }) };
  }

  async confirm(userId: string, code: string, client: ClientInfo) {
    const user = await this.accounts.get(userId);
    if (user.mfaEnabled) throw errors.conflict('MFA is already enabled');
    if (!user.mfaSecret) throw errors.badRequest('Start with POST /auth/mfa/totp');
    await this.checkCode(user, code);
    user.mfaEnabled = true;
    await this.oneTime.revokeAll(user.id, 'mfa_recovery');
    const recoveryCodes = Array.from({ length: 10 }, () => recoveryCode());
    for (const c of recoveryCodes)
      this.oneTime.issue(user.id, 'mfa_recovery', RECOVERY_TTL_MS, { token: normalise(c) });
    await this.audit.record({
      actorId: user.id,
      action: 'mfa.enabled',
      targetType: 'user',
      targetId: user.id,
      ...client,
    });
    await this.em.flush();
    return { recoveryCodes };
  }

  async disable(userId: string, password: string, code: string, client: ClientInfo) {
    const user = await this.accounts.verifyPassword(userId, password);
    if (!user.mfaEnabled) throw errors.conflict('MFA is not enabled');
    await this.checkCode(user, code);
    user.mfaEnabled = false;
    user.mfaSecret = null;
    user.mfaLastStep = null;
    await this.oneTime.revokeAll(user.id, 'mfa_recovery');
    await this.audit.record({
      actorId: user.id,
      action: 'mfa.disabled',
      targetType: 'user',
      targetId: user.id,
      ...client,
    });
    await this.em.flush();
  }

  /** After a correct password: a short-lived challenge instead of tokens. */
  async challenge(user: UserRow): Promise<{ mfaRequired: true; mfaToken: string }> {
    const mfaToken = randomToken(32);
    await this.cache.set(
      challengeKey(mfaToken),
      { userId: user.id, sv: user.standingVersion ?? 0 },
      { ttlMs: CHALLENGE_TTL_MS },
    );
    return { mfaRequired: true, mfaToken };
  }

  async verify(input: { mfaToken: string; code?: string; recoveryCode?: string }, client: ClientInfo) {
    const key = challengeKey(input.mfaToken);
    const pending = await this.cache.get<{ userId: string; sv?: number }>(key);
    if (!pending) throw errors.unauthorized('The MFA challenge is invalid or expired', 'INVALID_MFA_TOKEN');
    // Five wrong codes end the challenge. The slot is taken atomically before the code is
    // checked, so concurrent guesses cannot all be evaluated against one unchanged count.
    const attempt = await this.cache.increment(`${key}:tries`, 1, { ttlMs: CHALLENGE_TTL_MS });
    if (attempt > MAX_FAILURES) {
      await this.cache.delete(key);
      throw errors.unauthorized('Too many wrong codes: sign in with your password again', 'INVALID_MFA_TOKEN');
    }
    const user = await this.accounts.get(pending.userId);
    // A challenge issued before a suspension, role change or password reset is void.
    if (user.status !== 'active' || (user.standingVersion ?? 0) !== (pending.sv ?? 0)) {
      await this.cache.delete(key);
      throw errors.unauthorized('The MFA challenge is invalid or expired', 'INVALID_MFA_TOKEN');
    }
    try {
      await this.second(user, input);
    } catch (e) {
      if (attempt >= MAX_FAILURES) await this.cache.delete(key);
      await this.audit.record(
        { actorId: user.id, action: 'mfa.failed', targetType: 'user', targetId: user.id, ...client },
        { flush: true },
      );
      throw e;
    }
    // Exactly one concurrent verification can use the challenge up.
    if (!(await this.cache.delete(key)))
      throw errors.unauthorized('The MFA challenge is invalid or expired', 'INVALID_MFA_TOKEN');
    await this.audit.record({
      actorId: user.id,
      action: 'auth.login',
      targetType: 'user',
      targetId: user.id,
      ...client,
      newValues: { mfa: true },
    });
    return this.sessions.start(user, client, { mfaAt: this.clock.date() });
  }

  /** A fresh proof of MFA for the current session, for operations that demand a recent one. */
  async stepUp(userId: string, sessionId: string, code: string, client: ClientInfo) {
    const user = await this.accounts.get(userId);
    if (!user.mfaEnabled) throw new AppError(403, 'MFA_NOT_ENABLED', 'Enable MFA first');
    await this.checkCode(user, code);
    const session = await this.em.findOne<SessionRow>('IdentitySession', { id: sessionId, userId, revokedAt: null });
    if (!session) throw errors.unauthorized('The session has ended', 'SESSION_ENDED');
    session.mfaAt = this.clock.date();
    await this.audit.record({
      actorId: userId,
      action: 'mfa.step_up',
      targetType: 'session',
      targetId: sessionId,
      ...client,
    });
    await this.em.flush();
    return this.sessions.accessTokenFor(user, session);
  }

  private async second(user: UserRow, input: { code?: string; recoveryCode?: string }) {
    if (input.code) return await this.checkCode(user, input.code);
    if (input.recoveryCode)
      return void (await this.oneTime.consume(normalise(input.recoveryCode), 'mfa_recovery', user.id));
    throw errors.validation([{ field: 'body.code', code: 'required', message: 'code or recoveryCode is required' }]);
  }

  private async checkCode(user: UserRow, code: string) {
    const { verifySync } = await import('otplib');
    const secret = user.mfaSecret ? openTotpSecret(this.secrets, user.id, user.mfaSecret) : undefined;
    const result =
      /^\d{6}$/.test(code) && secret
        ? verifySync({
            secret,
            token: code,
            epoch: Math.floor(this.clock.now() / 1000),
            epochTolerance: 30,
            ...(user.mfaLastStep !== null && user.mfaLastStep !== undefined
              ? { afterTimeStep: Number(user.mfaLastStep) }
              : {}),
          })
        : { valid: false as const };
    if (!result.valid)
      throw errors.validation([
        { field: 'body.code', code: 'invalid_code', message: 'is wrong, expired or already used' },
      ]);
    user.mfaLastStep = (result as { timeStep: number }).timeStep;
  }
}

function recoveryCode(): string {
  const raw = randomToken(8).replace(/[^A-Za-z0-9]/g, '').toLowerCase().padEnd(10, '0').slice(0, 10);
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
}

const normalise = (code: string) => code.trim().toLowerCase().replace(/[^a-z0-9]/g, '');

/** TOTP seeds are stored sealed (envelope encryption), bound to their user. */
export function sealTotpSecret(secrets: Secrets, userId: string, secret: string): string {
  return secrets.seal(secret, `identity.mfa:${userId}`);
}

/** Reads the sealed form, and legacy plaintext seeds stored before encryption at rest. */
export function openTotpSecret(secrets: Secrets, userId: string, stored: string): string {
  return secrets.isSealed(stored) ? secrets.open(stored, `identity.mfa:${userId}`) : stored;
}

/** At start: seals legacy plaintext seeds and re-seals those under a retired KEK (finishing a rotation). */
export async function resealTotpSecrets(orm: MikroORM, secrets: Secrets): Promise<number> {
  const em = orm.em.fork();
  const rows = await em.find<UserRow>('IdentityUser', {
    mfaSecret: { $ne: null },
    $not: { mfaSecret: { $like: `sk1.${secrets.activeKeyId}.%` } },
  });
  for (const user of rows)
    user.mfaSecret = sealTotpSecret(secrets, user.id, openTotpSecret(secrets, user.id, user.mfaSecret!));
  await em.flush();
  return rows.length;
}
