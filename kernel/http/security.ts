import type { OpenAPIV3_1 } from 'openapi-types';
import { AppError, errors } from '../errors.ts';
import type { Authenticator, Principal } from '../plugin.ts';
import type { OperationEntry } from './contracts.ts';
import { assertCredentialAllowed, principalRule, type CredentialDefinition } from './principalTypes.ts';
import { awaitDeferredCheck } from './deferredChecks.ts';
import type { AuthFailureBudget } from './authFailures.ts';

export type SecurityRequirement = OpenAPIV3_1.SecurityRequirementObject;

/** True when the principal holds every permission (`*` holds all). */
export function hasPermissions(principal: Pick<Principal, 'permissions'>, required: string[]): boolean {
  if (principal.permissions.includes('*')) return true;
  return required.every((p) => principal.permissions.includes(p));
}

const missing = new WeakSet<object>();

/** The 401 for a request that presented no credential at all (not a failed authentication). */
function missingCredential(): AppError {
  const e = errors.unauthorized();
  missing.add(e);
  return e;
}

export function isMissingCredential(err: unknown): boolean {
  return typeof err === 'object' && err !== null && missing.has(err);
}

export interface OperationSecurity {
  /** Alternatives, each a list of scheme names that must all authenticate. Empty: public. */
  alternatives: string[][];
  /** `{}` is one of the alternatives: anonymous calls are allowed, credentials are still read. */
  optional: boolean;
  permissions: string[];
  /** `x-principal`: the principal kinds and credential types allowed; absent allows all. */
  credentials?: string[];
}

export function operationSecurity(
  entry: OperationEntry,
  documentSecurity: SecurityRequirement[] | undefined,
): OperationSecurity {
  const requirements = entry.operation.security ?? documentSecurity ?? [];
  const alternatives = requirements.map((r) => Object.keys(r)).filter((names) => names.length > 0);
  const optional = requirements.some((r) => Object.keys(r).length === 0);
  return {
    alternatives,
    optional,
    permissions: entry.operation['x-permissions'] ?? [],
    credentials: principalRule((entry.operation as Record<string, unknown>)['x-principal']),
  };
}

/**
 * Authenticates by the operation's security requirements (first alternative that yields a
 * principal wins), then authorises by `x-permissions`. Built once per operation at boot.
 * With `failures`, as `failures.wrap` does it (floods refused, failed authentications counted),
 * in the guard's own async frame rather than one more around it.
 */
export function compileGuard(
  security: OperationSecurity, schemes: Map<string, Authenticator>, operationId: string,
  credentials?: Map<string, CredentialDefinition>, failures?: AuthFailureBudget,
) {
  const { alternatives, optional, permissions } = security;
  if (!alternatives.length) return undefined;
  // One scheme: its authenticator gets the input object itself; with more, each gets its own copy.
  const single = alternatives.length === 1 && alternatives[0].length === 1;
  return async function guard(input: {
    headers: Record<string, string | string[] | undefined>;
    ip: string;
  }): Promise<Principal | undefined> {
    failures?.refuseIfBlocked(input.ip);
    try {
      let principal: Principal | undefined;
      let rejection: AppError | undefined;
      // The authenticator's input, made once per request (not a spread per scheme).
      const given = { headers: input.headers, ip: input.ip, operationId, permissions };
      for (const names of alternatives) {
        try {
          let found: Principal | undefined;
          for (const name of names) {
            found = await schemes.get(name)!(single ? given : { ...given });
            if (!found) break;
          }
          if (found) {
            principal = found;
            break;
          }
        } catch (e) {
          if (e instanceof AppError && e.status === 401) {
            rejection ??= e;
            continue;
          }
          throw e;
        }
      }
      if (!principal) {
        if (rejection) throw rejection;
        if (optional) return undefined;
        throw missingCredential();
      }
      try {
        assertCredentialAllowed(principal, security.credentials, credentials);
      } catch (e) {
        await awaitDeferredCheck(principal); // a revoked credential answers 401, not this 403
        throw e;
      }
      if (permissions.length && !hasPermissions(principal, permissions)) {
        await awaitDeferredCheck(principal);
        throw new AppError(403, 'FORBIDDEN', 'You do not have permission to do this', {
          details: { required: permissions },
        });
      }
      return principal;
    } catch (e) {
      throw failures ? await failures.counted(e, input.ip) : e;
    }
  };
}
