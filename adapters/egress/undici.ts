import { defineAdapter } from '../../kernel/ports/adapter.ts';
import type { Egress } from '../../kernel/ports/egress.ts';
import type { UndiciEgressOptions } from './undiciClient.ts';

export type { UndiciEgressOptions };

export default defineAdapter<Egress, UndiciEgressOptions>({
  port: 'egress',
  name: 'undici',
  description: 'Outbound HTTP(S) through an undici Agent: timeouts, size cap, bounded retries, '
    + 'SSRF guard pinned to the vetted address.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      connectTimeoutMs: { type: 'integer', minimum: 1, default: 5000 },
      headersTimeoutMs: {
        type: 'integer', minimum: 1, default: 15_000, description: 'Until the response headers are in.',
      },
      bodyTimeoutMs: {
        type: 'integer', minimum: 1, default: 30_000, description: 'Longest silence between two body chunks.',
      },
      maxResponseBytes: { type: 'integer', minimum: 1, default: 10_485_760 },
      maxRedirects: {
        type: 'integer', minimum: 0, default: 5,
        description: 'Cap on a call\'s followRedirects (redirects are not followed unless a call asks).',
      },
      retry: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          attempts: {
            type: 'integer', minimum: 1, maximum: 10, default: 3,
            description: 'Tries per idempotent call, the first included.',
          },
          baseDelayMs: { type: 'integer', minimum: 0, default: 200 },
          maxDelayMs: { type: 'integer', minimum: 0, default: 5000 },
          maxRetryAfterMs: {
            type: 'integer', minimum: 0, default: 10_000,
            description: 'A longer Retry-After is not waited for: the response is returned.',
          },
        },
      },
      ssrfGuard: {
        type: 'boolean', default: true,
        description: 'Refuse non-public addresses. Cloud metadata stays refused even when off.',
      },
      allowCidrs: {
        type: 'array', items: { type: 'string', minLength: 1 }, default: [],
        description: 'Ranges the guard lets through (development and tests only; logged as a warning at boot).',
      },
      userAgent: { type: 'string', minLength: 1 },
      keepAliveTimeoutMs: { type: 'integer', minimum: 1, default: 4000 },
      connectionsPerOrigin: { type: 'integer', minimum: 1, default: 32 },
    },
  },
  // The client library loads only when a deployment picks this adapter.
  create: async (options, ctx) => (await import('./undiciClient.ts')).createUndiciEgress(options, ctx),
});
