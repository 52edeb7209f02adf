/** What the Koa and Fastify baselines share: the error shape, the request-id rule, the health body, the note schema. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONTRACTS_DIR, VERSION } from '../paths.ts';
import { RATE_LIMIT_PER_WINDOW, RATE_LIMIT_TIER, RATE_LIMIT_WINDOW_MS } from './shared.ts';
import type { BareRateLimitPolicy } from './rateLimit.ts';

export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const NAME = 'api-kernel';
export const EXPOSED_HEADERS = [
  'X-Request-Id',
  'Retry-After',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'RateLimit',
  'RateLimit-Policy',
];
export const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const healthBody = (startedAt: number) => ({
  status: 'ok',
  name: NAME,
  version: VERSION,
  uptimeSeconds: (Date.now() - startedAt) / 1000,
});

export function errorBody(requestId: string, code: string, message: string, details: unknown = null) {
  return { error: { code, message, details, requestId, timestamp: new Date().toISOString() } };
}

export const ratePolicy = (tier: string): BareRateLimitPolicy => ({
  name: tier || RATE_LIMIT_TIER,
  limit: RATE_LIMIT_PER_WINDOW,
  windowMs: RATE_LIMIT_WINDOW_MS,
});

/** The contract's NoteCreate schema (contracts/notes.yaml), so baselines validate what the kernel validates. */
export function noteCreateSchema(): Record<string, unknown> {
  const doc = parseYaml(readFileSync(resolve(CONTRACTS_DIR, 'notes.yaml'), 'utf8')) as {
    components: { schemas: Record<string, Record<string, unknown>> };
  };
  // Local refs (`#/components/schemas/NoteTags`) are inlined: the baselines compile the schema on its own.
  const inline = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(inline);
    if (!node || typeof node !== 'object') return node;
    const ref = (node as { $ref?: string }).$ref;
    if (ref?.startsWith('#/components/schemas/')) return inline(doc.components.schemas[ref.split('/').pop()!]);
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inline(v)]));
  };
  return inline(doc.components.schemas.NoteCreate) as Record<string, unknown>;
}
