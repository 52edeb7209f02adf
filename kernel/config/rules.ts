/**
 * Checks across keys that a JSON schema cannot say clearly. Each problem names the path and why.
 * Runs after the kernel schema filled the defaults; it reads defensively in case that failed.
 */
export function kernelRules(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const cors = (config.server as { cors?: { enabled?: unknown; origins?: unknown; credentials?: unknown } } | undefined)
    ?.cors;
  if (cors && cors.enabled !== false && cors.credentials === true) {
    const origins = Array.isArray(cors.origins) ? cors.origins : [];
    if (origins.includes('*') || origins.length === 0) {
      problems.push('server.cors.credentials: true needs an explicit list of server.cors.origins, not "*" '
        + '(with "*" any web site could send credentialed requests and read the answers); '
        + 'list the allowed origins, e.g. origins: [https://app.example.com], or set credentials: false');
    }
  }
  problems.push(...tierRules(config));
  return problems;
}

/** The tier of callers that carry none must have a limit, or their requests would have none. */
function tierRules(config: Record<string, unknown>): string[] {
  const rateLimit = config.rateLimit as { enabled?: unknown; defaultTier?: unknown; tiers?: unknown } | undefined;
  if (!rateLimit || rateLimit.enabled === false || typeof rateLimit.defaultTier !== 'string') return [];
  const tiers = rateLimit.tiers && typeof rateLimit.tiers === 'object' ? Object.keys(rateLimit.tiers) : [];
  if (tiers.includes(rateLimit.defaultTier)) return [];
  return [`rateLimit.defaultTier: ${JSON.stringify(rateLimit.defaultTier)} is not one of rateLimit.tiers `
    + `(${tiers.join(', ') || 'none'}); name a tier listed there, or add it with its requests per window`];
}
