import type { ErrorDetail } from '../../kernel/index.ts';

export interface PasswordPolicy {
  minLength: number;
  maxLength: number;
  requireUpper: boolean;
  requireLower: boolean;
  requireDigit: boolean;
  requireSpecial: boolean;
}

/** Field-level problems with a password, empty when it passes the deployment's policy. */
export function checkPassword(password: string, policy: PasswordPolicy, field = 'body.password'): ErrorDetail[] {
  const problems: string[] = [];
  if (password.length < policy.minLength) problems.push(`at least ${policy.minLength} characters`);
  if (password.length > policy.maxLength) problems.push(`at most ${policy.maxLength} characters`);
  if (policy.requireUpper && !/\p{Lu}/u.test(password)) problems.push('an upper-case letter');
  if (policy.requireLower && !/\p{Ll}/u.test(password)) problems.push('a lower-case letter');
  if (policy.requireDigit && !/\d/.test(password)) problems.push('a digit');
  if (policy.requireSpecial && !/[^\p{L}\d]/u.test(password)) problems.push('a special character');
  return problems.length ? [{ field, code: 'password_policy', message: `must contain ${problems.join(', ')}` }] : [];
}
