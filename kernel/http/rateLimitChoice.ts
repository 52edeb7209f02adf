import type { Logger } from 'pino';
import type { KernelConfig } from '../config/schema.ts';
import { BootError } from '../config/problems.ts';

/**
 * Rate limiting never vanishes silently: without an `adapters.rateLimiter` the deployment must
 * say `rateLimit.enabled: false`, and running without it is a warning at every boot.
 */
export function checkRateLimitChoice(config: KernelConfig, logger: Logger): void {
  const configured = 'rateLimiter' in config.adapters;
  if (config.rateLimit.enabled && !configured) {
    throw new BootError([
      'rateLimit.enabled: true, but adapters.rateLimiter is not configured: ' +
        'configure one (use: memory, or redis to share limits across instances), or set rateLimit.enabled: false to run without rate limiting',
    ]);
  }
  if (!config.rateLimit.enabled) {
    logger.warn(
      { rateLimit: { enabled: false } },
      'rate limiting is off (rateLimit.enabled: false): no request is throttled, failed authentications included',
    );
  }
}
