import { defineServices } from '../../kernel/index.ts';
import type { IdentityConfig } from './config.ts';
import { SigningKeys } from './signing.ts';
import { RoleCatalog } from './roles.ts';
import { LoginThrottle } from './throttle.ts';
import { AuditLog } from './audit.ts';
import { SessionService } from './sessions.ts';
import { AccountService } from './accounts.ts';
import { ApiKeyService } from './apiKeys.ts';
import { KeyMisses } from './keyMisses.ts';
import { AdminService } from './admin.ts';
import { identityLogin } from './api.ts';
import { identityTokens } from './tokensApi.ts';
import { identityUsers } from './usersApi.ts';
import { TokenVerifier } from './tokenVerifier.ts';
import { UserViewCache } from './principalCache.ts';
import { OneTimeTokens } from './oneTime.ts';
import { MfaService } from './mfa.ts';
import { EmailFlows } from './emails.ts';
import { InstanceSync } from './standing.ts';

/** `plugins.identity` as validated: the config schema plus the bootstrap admin. */
export type IdentityPluginConfig = IdentityConfig & { bootstrapAdmin?: { email: string; password: string } };

/** Identity's services, in dependency order; each factory's cradle is typed from those before it. */
export const services = defineServices<{ config: IdentityPluginConfig }>()
  .singleton('signing', ({ orm, ids, clock, config, secrets }) => new SigningKeys(orm, ids, clock,
    { issuer: config.issuer, audience: config.audience, accessTtlSeconds: config.accessTokenTtlSeconds }, secrets))
  .singleton('userViews', ({ clock }) => new UserViewCache(clock))
  .singleton('tokenVerifier', ({ signing, clock, config }) =>
    new TokenVerifier(signing, clock, { issuer: config.issuer, audience: config.audience }))
  .singleton('roles', ({ permissionCatalog, config }) => new RoleCatalog(permissionCatalog, config.roles))
  .singleton('instanceSync', ({ orm, cache, clock, logger, config }) =>
    new InstanceSync(orm, cache, clock, logger, config.instanceSyncSeconds * 1000))
  .singleton('throttle', ({ cache, clock, config }) => new LoginThrottle(cache, clock, config.login))
  .singleton('apiKeyMisses', ({ clock }) => new KeyMisses(clock))
  .singleton('identityTokens', (c) => identityTokens(c))
  .singleton('identityLogin', (c) => identityLogin(c))
  .singleton('identityUsers', (c) => identityUsers(c))
  .scoped('audit', ({ em, principal }) => new AuditLog(em, principal))
  .scoped('sessions', ({ em, cache, clock, signing, audit, publish, config }) =>
    new SessionService(em, cache, clock, signing, audit, publish, config))
  .scoped('accounts', ({ em, clock, audit, throttle, sessions, roles, publish, config }) =>
    new AccountService(em, clock, audit, throttle, sessions, roles, publish, config))
  .scoped('apiKeys', ({ em, cache, clock, audit, roles, config, apiKeyMisses }) =>
    new ApiKeyService(em, cache, clock, audit, roles, config.apiKeyPrefix, apiKeyMisses, config.apiKeys.maxPerUser))
  .scoped('oneTime', ({ em, clock }) => new OneTimeTokens(em, clock))
  .scoped('mfa', ({ em, cache, clock, audit, oneTime, sessions, accounts, config, secrets }) =>
    new MfaService(em, cache, clock, audit, oneTime, sessions, accounts, config.issuer, secrets))
  .scoped('emails', (c) =>
    new EmailFlows(c.em, c.oneTime, c.audit, c.accounts, c.sessions, c.publish, c.clock, c.config))
  .scoped('admin', ({ em, clock, accounts, sessions, audit, roles, publish, config }) =>
    new AdminService(em, clock, accounts, sessions, audit, roles, publish, config.impersonationTtlMinutes));

export type IdentityServices = typeof services;
