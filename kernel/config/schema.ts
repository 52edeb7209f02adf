import type { JsonSchema } from '../ports/adapter.ts';

/** The kernel's own part of the config schema. Adapter and plugin parts are assembled in validate.ts. */
export const kernelConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'database', 'adapters', 'plugins'],
  properties: {
    name: { type: 'string', default: 'api-kernel', description: 'Deployment name: used in logs, telemetry and client ids.' },
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '0.0.0.0' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
        basePath: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)*$', default: '/v1' },
        envelope: { enum: ['plain', 'success'], default: 'plain' },
        bodyLimitBytes: { type: 'integer', minimum: 1, default: 1048576 },
        shutdownTimeoutMs: { type: 'integer', minimum: 0, default: 10000 },
        publicUrl: { type: 'string', description: 'Base URL printed at start and used in links; defaults to http://localhost:<port>.' },
        trustProxy: { type: 'boolean', default: false },
        validateResponses: { type: 'boolean', default: false, description: 'Validate every response against the contract (tests).' },
        compression: {
          type: 'object', additionalProperties: false, default: {},
          properties: { enabled: { type: 'boolean', default: true }, thresholdBytes: { type: 'integer', minimum: 0, default: 1024 } },
        },
        cors: {
          type: 'object', additionalProperties: false, default: {},
          properties: {
            enabled: { type: 'boolean', default: true },
            origins: { type: 'array', items: { type: 'string' }, default: ['*'] },
            credentials: { type: 'boolean', default: false },
            maxAgeSeconds: { type: 'integer', minimum: 0, default: 600 },
          },
        },
        docs: {
          type: 'object', additionalProperties: false, default: {},
          properties: { enabled: { type: 'boolean', default: true }, title: { type: 'string', description: 'Title of the OpenAPI document and docs page; defaults to `name`.' } },
        },
      },
    },
    database: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        driver: { enum: ['sqlite', 'postgresql', 'mongodb'], default: 'sqlite' },
        url: { type: 'string', minLength: 1, default: 'file:./data/kernel.db' },
        migrate: { enum: ['auto', 'check', 'off'], default: 'auto' },
        debug: { type: 'boolean', default: false },
        poolMax: { type: 'integer', minimum: 1, default: 10 },
      },
    },
    adapters: { type: 'object', default: {} },
    plugins: { type: 'object', default: {} },
    rateLimit: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Applies when adapters.rateLimiter is configured.',
      properties: {
        enabled: { type: 'boolean', default: true },
        windowMs: { type: 'integer', minimum: 1000, default: 60000 },
        defaultTier: { type: 'string', default: 'free' },
        tiers: {
          type: 'object', additionalProperties: { type: 'integer', minimum: 1 },
          default: { free: 60, premium: 300, enterprise: 1000 },
          description: 'Requests per window for each tier.',
        },
        warning: {
          type: 'object', additionalProperties: false, default: {},
          properties: { threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.9 }, header: { type: 'string', default: 'X-RateLimit-Warning' } },
        },
      },
    },
    secrets: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Key-encryption keys for secrets stored at rest (envelope encryption, AES-256-GCM).',
      properties: {
        keys: {
          type: 'array', default: [],
          description: 'KEKs, newest first: base64 of 32 bytes each (openssl rand -base64 32). Keep retired ones until every value is re-sealed.',
          items: {
            type: 'object', additionalProperties: false, required: ['id', 'secret'],
            properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' }, secret: { type: 'string', minLength: 1 } },
          },
        },
        activeKey: { type: 'string', description: 'The KEK id that seals new values; defaults to the first key.' },
        keyFile: { type: 'string', default: './data/secrets.key', description: 'Generated (mode 0600) when `keys` is empty; read if present.' },
      },
    },
    log: {
      type: 'object', additionalProperties: false, default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
        requests: { type: 'boolean', default: true, description: 'One log line per request.' },
      },
    },
    telemetry: {
      type: 'object', additionalProperties: false, default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        serviceName: { type: 'string' },
        exporter: { enum: ['console', 'otlp', 'memory', 'none'], default: 'console' },
        endpoint: { type: 'string', description: 'OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces' },
      },
    },
  },
};

export interface KernelConfig {
  name: string;
  server: {
    host: string; port: number; basePath: string; envelope: 'plain' | 'success'; bodyLimitBytes: number;
    shutdownTimeoutMs: number; publicUrl?: string; trustProxy: boolean; validateResponses: boolean;
    compression: { enabled: boolean; thresholdBytes: number };
    cors: { enabled: boolean; origins: string[]; credentials: boolean; maxAgeSeconds: number };
    docs: { enabled: boolean; title?: string };
  };
  database: { driver: 'sqlite' | 'postgresql' | 'mongodb'; url: string; migrate: 'auto' | 'check' | 'off'; debug: boolean; poolMax: number };
  adapters: Record<string, { use: string; [option: string]: unknown }>;
  plugins: Record<string, { enabled?: boolean; [option: string]: unknown }>;
  rateLimit: { enabled: boolean; windowMs: number; defaultTier: string; tiers: Record<string, number>; warning: { threshold: number; header: string } };
  log: { level: string; requests: boolean };
  secrets: { keys: Array<{ id: string; secret: string }>; activeKey?: string; keyFile: string };
  telemetry: { enabled: boolean; serviceName?: string; exporter: 'console' | 'otlp' | 'memory' | 'none'; endpoint?: string };
}
