import { definePlugin, type RootCradleOf } from '../../kernel/index.ts';
import { services, type IdentityServices } from './services.ts';
import { entities } from './entities.ts';
import { migrations } from './migrations.ts';
import { identityConfigSchema } from './config.ts';
import { AuditLog } from './audit.ts';
import { ApiKeyService } from './apiKeys.ts';
import { bearerAuthenticator, apiKeyAuthenticator } from './auth.ts';
import { handlers } from './handlers.ts';
import { ensureBootstrapAdmin } from './api.ts';
import { closePasswordHashing } from './crypto.ts';
import { invalidateOnFlush, userViewSubscribers } from './principalCache.ts';
import { resealTotpSecrets } from './mfa.ts';
import { mailSubscribers } from './mailFlows.ts';
import { identityEvents } from './events.ts';
import { credentials } from './credentials.ts';

/**
 * Accounts, sessions and RS256 tokens, API keys, roles, audit and GDPR.
 * Provides the `bearerAuth` and `apiKey` security schemes every other contract can require.
 */
export default definePlugin({
  name: 'identity',
  version: '1.0.0',
  description: 'Accounts, tokens, API keys, roles, audit.',
  config: {
    ...identityConfigSchema,
    properties: {
      ...identityConfigSchema.properties,
      bootstrapAdmin: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'Created with the top role of `roles` at start, when both are set and the email is free.',
        properties: { email: { type: 'string', default: '' }, password: { type: 'string', default: '' } },
      },
    },
  },
  entities,
  migrations,
  permissions: [
    { name: 'profile:read', description: 'Read your own account' },
    { name: 'profile:write', description: 'Change your own account' },
    { name: 'apikeys:manage', description: 'Create and revoke your API keys' },
    { name: 'sessions:manage', description: 'List and end your sessions' },
    { name: 'admin:users:read', description: 'List and read users' },
    { name: 'admin:users:write', description: 'Create, change, suspend and erase users' },
    { name: 'admin:roles', description: 'Manage custom roles' },
    { name: 'admin:audit', description: 'Read the audit log' },
    { name: 'admin:impersonate', description: 'Act as a user for a short, audited session' },
  ],
  services,
  exports: ['identityTokens', 'identityLogin', 'identityUsers'],
  credentials,
  authSchemes: {
    bearerAuth: (c) =>
      bearerAuthenticator({
        verifier: c.tokenVerifier,
        cache: c.cache,
        roles: c.roles,
        clock: c.clock,
        apiKeyPrefix: c.config.apiKeyPrefix,
        mfa: c.config.mfa,
        apiKeys: () => keysOutsideRequest(c),
        sync: c.instanceSync,
      }),
    apiKey: (c) =>
      apiKeyAuthenticator(() => keysOutsideRequest(c), { clock: c.clock, mfa: c.config.mfa }, c.instanceSync),
  },
  handlers,
  subscribers: [...mailSubscribers(), ...userViewSubscribers()],
  events: identityEvents,
  async onStart(c) {
    c.orm.em.getEventManager().registerSubscriber(invalidateOnFlush(c.userViews));
    await c.signing.start();
    const resealed = await resealTotpSecrets(c.orm, c.secrets);
    if (resealed) c.logger.info({ count: resealed }, 'TOTP secrets sealed under the active key-encryption key');
    await c.roles.load(c.orm.em.fork());
    // Other instances' changes (custom roles, rotated keys, users' standing) reach this one within instanceSyncSeconds.
    c.instanceSync.add(() => c.roles.load(c.orm.em.fork()));
    c.instanceSync.add(() => c.signing.reloadIfChanged());
    c.signing.useSync(c.instanceSync);
    await ensureBootstrapAdmin(c);
  },
  async onStop() {
    await closePasswordHashing();
  },
});

/** Authentication runs before the request scope exists: it gets its own EntityManager fork. */
function keysOutsideRequest(c: RootCradleOf<IdentityServices>): ApiKeyService {
  const em = c.orm.em.fork();
  return new ApiKeyService(
    em,
    c.cache,
    c.clock,
    new AuditLog(em),
    c.roles,
    c.config.apiKeyPrefix,
    c.apiKeyMisses,
    c.config.apiKeys.maxPerUser,
  );
}
