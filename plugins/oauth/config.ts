export interface OAuthConfig {
  /** Lifetime of access tokens, seconds. */
  accessTokenTtlSeconds: number;
  /** Lifetime of authorization codes, seconds. */
  codeTtlSeconds: number;
  /** Lifetime of each refresh token, days (every use rotates it and starts a new one). */
  refreshTokenTtlDays: number;
  /**
   * Public origin (and proxy prefix) the metadata document's URLs start with; required outside
   * development and test (else the request's origin, uncached).
   */
  publicBaseUrl: string;
  /** Clients one user may register. */
  maxClientsPerUser: number;
}

export const oauthConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    accessTokenTtlSeconds: { type: 'integer', minimum: 30, maximum: 86400, default: 900 },
    codeTtlSeconds: { type: 'integer', minimum: 1, maximum: 600, default: 60 },
    refreshTokenTtlDays: { type: 'integer', minimum: 1, maximum: 365, default: 30 },
    publicBaseUrl: {
      type: 'string', default: '', pattern: '^(https?://[^\\s?#]+)?$',
      description: 'e.g. https://auth.example.com; no trailing query or fragment',
    },
    maxClientsPerUser: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
  },
};

/**
 * The metadata document names the issuer's endpoints. Outside development and test they must
 * come from `publicBaseUrl`, never from the request's Host header.
 */
export function assertPublicBaseUrl(config: Pick<OAuthConfig, 'publicBaseUrl'>, nodeEnv: string | undefined): void {
  if (config.publicBaseUrl || !nodeEnv || nodeEnv === 'development' || nodeEnv === 'test') return;
  throw new Error(`plugins.oauth.publicBaseUrl: required when NODE_ENV is ${nodeEnv} (e.g. https://auth.example.com)`);
}
