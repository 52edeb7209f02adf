import { definePlugin } from '../../kernel/index.ts';
import { services } from './services.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { assertPublicBaseUrl, oauthConfigSchema } from './config.ts';
import { handlers } from './handlers.ts';
import { standingSubscriber } from './standing.ts';

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
  services,
  exports: [],
  handlers,
  onStart({ config }) {
    assertPublicBaseUrl(config, process.env.NODE_ENV);
  },
  subscribers: [standingSubscriber],
});
