/** Option schemas of the aiProvider adapters (config is validated against these before create runs). */
import type { JsonSchema } from '../../../kernel/ports/adapter.ts';
import { AI_CAPABILITIES, MODERATION_CATEGORIES } from '../../../kernel/ports/aiProvider.ts';

export const VENDOR_PROPERTIES: Record<string, JsonSchema> = {
  name: {
    type: 'string',
    minLength: 1,
    description: 'Provider name in this deployment (routers and catalogs use it).',
  },
  apiKey: { type: 'string', description: 'Vendor key; use ${ENV_VAR} interpolation, never a literal.' },
  baseUrl: { type: 'string', minLength: 1, description: 'API root (a proxy, a regional endpoint, a local server).' },
  timeoutMs: { type: 'integer', minimum: 1, default: 60_000, description: 'Until the answer (streamed: its headers).' },
  idleTimeoutMs: { type: 'integer', minimum: 1, default: 30_000, description: 'Longest silence inside a stream.' },
  headers: { type: 'object', additionalProperties: { type: 'string' } },
};

const SEVERITY = { enum: ['LOW', 'MEDIUM', 'HIGH'] };

export const LOCAL_MODERATION_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    rules: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['id', 'category', 'severity', 'pattern'],
        properties: {
          id: { type: 'string', minLength: 1 },
          category: { enum: [...MODERATION_CATEGORIES] },
          severity: SEVERITY,
          pattern: { type: 'string', minLength: 1, description: 'Regular expression on lower-case, accent-free text.' },
        },
      },
    },
    disable: { type: 'array', items: { type: 'string' }, description: 'Built-in rule ids to turn off.' },
    flagAt: { ...SEVERITY, default: 'MEDIUM' },
  },
};

export const CAPABILITIES_SCHEMA: JsonSchema = {
  type: 'array',
  items: { enum: [...AI_CAPABILITIES] },
  uniqueItems: true,
};
