import { defineServices } from '../../kernel/index.ts';
import type { IdentityExports } from '../identity/api.ts';
import type { OAuthConfig } from './config.ts';
import { TokenStore } from './store.ts';
import { ClientService } from './clients.ts';
import { OAuthService } from './service.ts';

/** OAuth's services: per request, over identity's exported `identityTokens` (typed by identity's api.ts). */
export const services = defineServices<{ config: OAuthConfig; requires: IdentityExports }>()
  .scoped('tokenStore', ({ em, clock, identityTokens }) => new TokenStore(em, clock, identityTokens))
  .scoped('clients', ({ em, clock, identityTokens, tokenStore, permissionCatalog, config }) =>
    new ClientService(em, clock, identityTokens, tokenStore, permissionCatalog, config))
  .scoped('oauth', ({ em, clock, identityTokens, clients, tokenStore, permissionCatalog, config }) =>
    new OAuthService(em, clock, identityTokens, clients, tokenStore, permissionCatalog, config));

export type OAuthServices = typeof services;
