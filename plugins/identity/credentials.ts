import type { CredentialDefinition } from '../../kernel/index.ts';

/**
 * The credential types identity's authenticators set as `principal.credential`, which
 * contracts may list in `x-principal` (beside the kernel's kinds `user` and `client`).
 */
export const credentials: CredentialDefinition[] = [
  { name: 'session', description: 'A signed-in session (first-party access token)' },
  {
    name: 'impersonation',
    description: "An admin's short, audited session as a user",
    refusal: { code: 'IMPERSONATION_NOT_ALLOWED', message: 'This cannot be done while impersonating a user' },
  },
  { name: 'apiKey', description: "A user's API key (acts for its user, within its scopes)" },
  { name: 'oauthUser', description: 'An OAuth access token an app holds for a user' },
  { name: 'oauthClient', description: 'A client-credentials token: the OAuth client acting for itself' },
];
