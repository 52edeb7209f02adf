import { AppError } from '../errors.ts';
import type { Principal } from '../plugin.ts';

/**
 * The kinds of credential a principal can come from. Authentication schemes set
 * `principal.credential`; a principal without one (a third-party scheme) matches no
 * `x-principal` list, so operations that restrict credentials refuse it.
 */
export const CREDENTIAL_TYPES = ['session', 'impersonation', 'apiKey', 'oauthUser', 'oauthClient'] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];

/** What an operation's `x-principal` allows: absent means every credential type. */
export function principalRule(value: unknown, operationId: string): CredentialType[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  const unknown = list.filter((v) => !(CREDENTIAL_TYPES as readonly unknown[]).includes(v));
  if (!list.length || unknown.length) {
    const allowed = CREDENTIAL_TYPES.join(', ');
    throw new Error(`${operationId}: x-principal must list some of ${allowed} (got ${JSON.stringify(value)})`);
  }
  return list as CredentialType[];
}

/**
 * Refuses a principal whose credential type the operation does not allow: 403
 * `IMPERSONATION_NOT_ALLOWED` for an impersonation session, else `CREDENTIAL_NOT_ALLOWED`.
 */
export function assertCredentialAllowed(principal: Principal, allowed: CredentialType[] | undefined): void {
  if (!allowed) return;
  const credential = principal.credential as CredentialType | undefined;
  if (credential && allowed.includes(credential)) return;
  if (credential === 'impersonation') {
    const message = 'This cannot be done while impersonating a user';
    throw new AppError(403, 'IMPERSONATION_NOT_ALLOWED', message, { details: { allowed } });
  }
  const message = `This operation needs one of these credentials: ${allowed.join(', ')}`;
  throw new AppError(403, 'CREDENTIAL_NOT_ALLOWED', message, {
    details: { allowed, received: credential ?? null },
  });
}
