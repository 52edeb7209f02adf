import type { ApiKeyRow, AuditRow, SessionRow, UserRow } from './entities.ts';

const iso = (d: Date | string | number | null | undefined) =>
  d === null || d === undefined ? null : new Date(d).toISOString();

/** The account as its owner sees it. Never the hash, the TOTP secret or any token. */
export function userView(u: UserRow) {
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
    ...(u.pendingEmail ? { pendingEmail: u.pendingEmail } : {}),
  };
}

/** What anyone may see of another account. */
export function publicProfile(u: UserRow) {
  return { id: u.id, name: u.name, createdAt: iso(u.createdAt)! };
}

/**
 * A session as its user sees it. An impersonation session is labelled, and its network
 * details (the admin's IP and user agent) are not shown to the impersonated user.
 */
export function sessionView(s: SessionRow, currentSessionId?: string) {
  const impersonated = Boolean(s.impersonatorId);
  return {
    id: s.id,
    userAgent: impersonated ? null : s.userAgent,
    ip: impersonated ? null : s.ip,
    createdAt: iso(s.createdAt)!,
    lastUsedAt: iso(s.lastUsedAt)!,
    expiresAt: iso(s.expiresAt)!,
    current: s.id === currentSessionId,
    impersonated,
  };
}

export function apiKeyView(k: ApiKeyRow) {
  return {
    id: k.id,
    name: k.name,
    start: k.start,
    scopes: k.scopes,
    mode: k.mode as 'live' | 'test',
    expiresAt: iso(k.expiresAt),
    lastUsedAt: iso(k.lastUsedAt),
    rateLimit: k.rateLimit,
    createdAt: iso(k.createdAt)!,
  };
}

export function auditView(a: AuditRow) {
  return {
    id: a.id,
    actorId: a.actorId,
    impersonatorId: a.impersonatorId ?? null,
    action: a.action,
    targetType: a.targetType,
    targetId: a.targetId,
    ip: a.ip,
    userAgent: a.userAgent,
    oldValues: a.oldValues,
    newValues: a.newValues,
    createdAt: iso(a.createdAt)!,
  };
}

/** An audit entry as the user it concerns sees it (GDPR export): other actors' network details are redacted. */
export function auditViewFor(a: AuditRow, userId: string) {
  const view = auditView(a);
  const someoneElse = a.impersonatorId || (a.actorId !== null && a.actorId !== userId);
  return someoneElse ? { ...view, ip: null, userAgent: null } : view;
}
