import { definePlugin } from '../../kernel/index.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { assertPublicBaseUrl, oauthConfigSchema, type OAuthConfig } from './config.ts';
import { TokenStore } from './store.ts';
import { ClientService } from './clients.ts';
import { OAuthService } from './service.ts';
import { handlers } from './handlers.ts';
import { standingSubscriber } from './standing.ts';

const scoped = <T>(factory: (c: any) => T) => ({ factory, lifetime: 'scoped' as const });

/**
 * OAuth 2.0 for third-party apps on top of identity: authorization code + PKCE (S256 only),
 * client credentials, rotating refresh tokens, revocation, introspection, RFC 8414 metadata,
 * and per-user client registration. Access tokens are identity's (via `identityTokens`).
 */
export default definePlugin({
  name: 'oauth',
  version: '1.0.0',
  description: 'OAuth 2.0 authorization server for third-party apps.',
  requires: ['identity'],
  config: oauthConfigSchema,
  entities,
  migrations,
  permissions: [
    { name: 'oauth:clients:manage', description: 'Register and delete your OAuth apps', roles: ['user'] },
  ],
  services: {
    tokenStore: scoped(({ em, clock, identityTokens }) => new TokenStore(em, clock, identityTokens)),
    clients: scoped(({ em, clock, identityTokens, tokenStore, permissionCatalog, config }) => new ClientService(em, clock, identityTokens, tokenStore, permissionCatalog, config)),
    oauth: scoped(({ em, clock, identityTokens, clients, tokenStore, permissionCatalog, config }) => new OAuthService(em, clock, identityTokens, clients, tokenStore, permissionCatalog, config)),
  },
  exports: [],
  handlers,
  onStart({ config }: { config: OAuthConfig }) {
    assertPublicBaseUrl(config, process.env.NODE_ENV);
  },
  subscribers: [standingSubscriber],
});
