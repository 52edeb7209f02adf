import { AppError } from '../errors.ts';
import type { Principal, PluginDefinition } from '../plugin.ts';
import type { MergedContract } from './contracts.ts';

/**
 * Who may call an operation (`x-principal`). The kernel knows two kinds of principal:
 * `user` (it acts for a user, whose id is its `id`: `principal.type === 'user'`) and
 * `client` (any other: a service or an OAuth client acting for itself). Finer credential
 * types are the words of the plugins that issue them: they declare them (`credentials` in
 * definePlugin) and their authenticators set `principal.credential`. `x-principal` may list
 * kinds, credential types, or both.
 */
export const PRINCIPAL_KINDS = ['user', 'client'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];
/** A credential type a plugin declares (`session`, `apiKey`...). */
export type CredentialType = string;

export interface CredentialDefinition {
  /** What `x-principal` lists and the authenticator sets as `principal.credential`. */
  name: CredentialType;
  description?: string;
  /** The 403 such a principal gets where it is not allowed (default `CREDENTIAL_NOT_ALLOWED`). */
  refusal?: { code: string; message: string };
}

export function principalKind(principal: Pick<Principal, 'type'>): PrincipalKind {
  return principal.type === 'user' ? 'user' : 'client';
}

/** Every enabled plugin's credential types, by name. */
export function credentialRegistry(plugins: PluginDefinition[]): Map<string, CredentialDefinition> {
  return new Map(plugins.flatMap((p) => (p.credentials ?? []).map((c) => [c.name, c] as const)));
}

/** Boot problems: a credential type declared twice or named like a kind, an `x-principal` naming an unknown one. */
export function principalProblems(plugins: PluginDefinition[], contract: MergedContract): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>(PRINCIPAL_KINDS.map((k) => [k, 'the kernel (a principal kind)']));
  for (const plugin of plugins) {
    for (const { name } of plugin.credentials ?? []) {
      const taken = owner.get(name);
      if (taken) problems.push(`credential type ${name}: declared by ${taken} and plugin ${plugin.name}`);
      owner.set(name, `plugin ${plugin.name}`);
    }
  }
  const known = [...owner.keys()];
  for (const op of contract.operations) {
    const value = (op.operation as Record<string, unknown>)['x-principal'];
    if (value === undefined) continue;
    const list = Array.isArray(value) ? value : [value];
    if (!list.length || list.some((v) => !known.includes(v as string))) {
      problems.push(`${op.operationId}: x-principal must list some of ${known.join(', ')} `
        + `(got ${JSON.stringify(value)}; credential types come from the plugins that declare them)`);
    }
  }
  return problems;
}

/** What an operation's `x-principal` allows: absent means every principal. */
export function principalRule(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).map(String);
}

/**
 * Refuses a principal the operation does not allow, by kind or credential type: 403
 * `USER_PRINCIPAL_REQUIRED` (or `CLIENT_...`) where only kinds are listed; else the credential
 * type's declared `refusal` if it has one, else `CREDENTIAL_NOT_ALLOWED`.
 */
export function assertCredentialAllowed(
  principal: Principal,
  allowed: string[] | undefined,
  credentials?: Map<string, CredentialDefinition> | CredentialDefinition[],
): void {
  if (!allowed) return;
  const kind = principalKind(principal);
  const credential = typeof principal.credential === 'string' ? principal.credential : undefined;
  if (allowed.includes(kind) || (credential && allowed.includes(credential))) return;
  if (allowed.every((a) => (PRINCIPAL_KINDS as readonly string[]).includes(a))) {
    const wanted = allowed[0] === 'user' ? 'a user' : 'a client acting for itself';
    throw new AppError(403, `${allowed[0].toUpperCase()}_PRINCIPAL_REQUIRED`,
      `This operation is for ${wanted}; a ${kind} credential cannot call it`,
      { details: { allowed, received: credential ?? kind } });
  }
  const registry = Array.isArray(credentials) ? new Map(credentials.map((c) => [c.name, c])) : credentials;
  const refusal = credential ? registry?.get(credential)?.refusal : undefined;
  if (refusal) throw new AppError(403, refusal.code, refusal.message, { details: { allowed } });
  const message = `This operation needs one of these credentials: ${allowed.join(', ')}`;
  throw new AppError(403, 'CREDENTIAL_NOT_ALLOWED', message, {
    details: { allowed, received: credential ?? null },
  });
}
