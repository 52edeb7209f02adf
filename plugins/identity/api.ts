/**
 * What the composition root (CLI) may do with identity, given the plugin's container.
 * Plugins that need identity use the security schemes and events, not this module.
 */
import { AuditLog } from './audit.ts';
import { AccountService } from './accounts.ts';
import { SessionService } from './sessions.ts';
import type { UserRow } from './entities.ts';
import type { ClientInfo } from './sessions.ts';
import { MfaService } from './mfa.ts';
import { OneTimeTokens } from './oneTime.ts';
import type { KernelCradle } from '../../kernel/index.ts';
import type { SigningKeys } from './signing.ts';
import type { LoginThrottle } from './throttle.ts';
import type { RoleCatalog } from './roles.ts';
import type { IdentityPluginConfig } from './services.ts';
import type { IdentityTokens } from './tokensApi.ts';

export type { IdentityTokens } from './tokensApi.ts';
export type { IdentityUsers, UserProfile } from './usersApi.ts';
import type { IdentityUsers } from './usersApi.ts';

/** What identity exports to plugins that list it in `requires`: `defineServices<{ requires: IdentityExports }>()`. */
export interface IdentityExports {
  identityTokens: IdentityTokens;
  identityLogin: IdentityLogin;
  /** Read-only profiles (email, name, role) by user id. */
  identityUsers: IdentityUsers;
}

/** What of identity's container these functions use (the CLI passes the plugin's cradle). */
export type IdentityInternals =
  Pick<KernelCradle<IdentityPluginConfig>, 'orm' | 'cache' | 'clock' | 'config' | 'secrets' | 'publishIn' | 'logger'>
  & { signing: SigningKeys; throttle: LoginThrottle; roles: RoleCatalog };

function accountsFor(c: IdentityInternals) {
  const em = c.orm.em.fork();
  const audit = new AuditLog(em);
  // Events join this fork's unit of work, so they are stored with the change they announce.
  const publish = c.publishIn(em);
  const sessions = new SessionService(em, c.cache, c.clock, c.signing, audit, publish, c.config);
  return {
    em,
    audit,
    sessions,
    accounts: new AccountService(em, c.clock, audit, c.throttle, sessions, c.roles, publish, c.config),
  };
}

/** Creates a super_admin (the deployment's top role), or promotes the existing account with that email. */
export async function createAdmin(
  c: IdentityInternals,
  email: string,
  password: string,
  name = 'Administrator',
): Promise<{ id: string; created: boolean }> {
  const { em, accounts } = accountsFor(c);
  const existing = (await em.findOne('IdentityUser', { email: email.trim().toLowerCase() })) as UserRow | null;
  if (existing) {
    existing.role = c.roles.top();
    await em.flush();
    return { id: existing.id, created: false };
  }
  const user = await accounts.register(
    { name, email, password },
    { ip: null, userAgent: 'cli' },
    { role: c.roles.top(), verified: true },
  );
  return { id: user.id, created: true };
}

export async function ensureBootstrapAdmin(c: IdentityInternals): Promise<void> {
  const { email, password } = c.config.bootstrapAdmin ?? {};
  if (!email || !password) return;
  const { em } = accountsFor(c);
  if (await em.count('IdentityUser', { email: email.trim().toLowerCase() })) return;
  const { id } = await createAdmin(c, email, password);
  c.logger.info({ userId: id }, 'bootstrap admin created');
}

/** What a login answers: tokens, or a challenge when TOTP is on (finish at identity's mfa/verify). */
export type LoginResult =
  | { accessToken: string; refreshToken: string; tokenType: string; expiresIn: number; user: Record<string, unknown> }
  | { mfaRequired: true; mfaToken: string };

/**
 * Identity's login, exported as the service `identityLogin` to plugins that require identity:
 * a seed's facade serves its own `/auth/login` shape through it (with identity's route excluded).
 * Same throttling, audit and sessions as identity's own route.
 */
export interface IdentityLogin {
  login(email: string, password: string, client: ClientInfo): Promise<LoginResult>;
}

export function identityLogin(c: IdentityInternals): IdentityLogin {
  return {
    async login(email, password, client) {
      const { em, audit, sessions, accounts } = accountsFor(c);
      const user = await accounts.authenticate(email, password, client);
      if (user.mfaEnabled) {
        const oneTime = new OneTimeTokens(em, c.clock);
        return new MfaService(em, c.cache, c.clock, audit, oneTime, sessions, accounts, c.config.issuer, c.secrets)
          .challenge(user);
      }
      const result = await accounts.startSession(user, client);
      await em.flush();
      return result as LoginResult;
    },
  };
}
