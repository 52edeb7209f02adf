import type { JsonSchema } from '../ports/adapter.ts';

/** The kernel's own part of the config schema. Adapter and plugin parts are assembled in validate.ts. */
export const kernelConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'database', 'adapters', 'plugins'],
  properties: {
    name: {
      type: 'string',
      default: 'api-kernel',
      description: 'Deployment name: used in logs, telemetry and client ids.',
    },
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
        requestTimeoutMs: {
          type: 'integer',
          minimum: 0,
          default: 30000,
          description:
            'Time to receive a whole request (headers and body); then 408 and the connection closes. 0: none.',
        },
        headersTimeoutMs: {
          type: 'integer',
          minimum: 1,
          default: 10000,
          description: 'Time to receive the headers (at most requestTimeoutMs).',
        },
        keepAliveTimeoutMs: {
          type: 'integer',
          minimum: 0,
          default: 5000,
          description: 'How long an idle keep-alive connection stays open.',
        },
        maxConnections: {
          type: 'integer',
          minimum: 0,
          default: 10000,
          description: 'Open connections per instance; more are closed as they arrive. 0: no cap.',
        },
        publicUrl: {
          type: 'string',
          description: 'Base URL printed at start and used in links; defaults to http://localhost:<port>.',
        },
        trustProxy: { type: 'boolean', default: false },
        validateResponses: {
          type: 'boolean',
          default: false,
          description: 'Validate every response against the contract (tests).',
        },
        compression: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: 'boolean', default: true },
            thresholdBytes: { type: 'integer', minimum: 0, default: 1024 },
          },
        },
        cors: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: 'boolean', default: true },
            origins: { type: 'array', items: { type: 'string' }, default: ['*'] },
            credentials: { type: 'boolean', default: false },
            maxAgeSeconds: { type: 'integer', minimum: 0, default: 600 },
          },
        },
        docs: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: 'boolean', default: true },
            title: { type: 'string', description: 'Title of the OpenAPI document and docs page; defaults to `name`.' },
            paths: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                swagger: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)+$', default: '/docs' },
                redoc: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)+$', default: '/redoc' },
                openapi: { type: 'string', pattern: '^(/[A-Za-z0-9._~-]+)+$', default: '/openapi.json' },
              },
            },
          },
        },
        casing: {
          enum: ['camel', 'snake'],
          default: 'camel',
          description: 'Wire names of bodies, query and path parameters; plugins always see camelCase.',
        },
        pagination: {
          enum: ['cursor', 'page'],
          default: 'cursor',
          description: 'Wire style of lists written with the paging helper.',
        },
        messages: {
          type: 'object',
          additionalProperties: { type: 'string' },
          default: {},
          description: 'operationId -> `message` under envelope success (overrides x-success-message).',
        },
        errors: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            codes: {
              type: 'object',
              additionalProperties: { type: 'string', pattern: '^[A-Z][A-Z0-9_]*$' },
              default: {},
              description: 'Renamed error codes: kernel code -> wire code.',
            },
            suggestedActions: {
              type: 'object',
              additionalProperties: { type: 'string' },
              default: {},
              description: 'Error code -> suggested action text.',
            },
            documentation: {
              type: 'string',
              pattern: '\\{code\\}',
              description: 'URL template of the documentation link, e.g. https://docs.example.com/errors/{code}.',
            },
            details: {
              enum: ['nested', 'flat'],
              default: 'nested',
              description: '`nested`: [{field, message, code}]; `flat`: {field: message}.',
            },
          },
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
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Needs adapters.rateLimiter; without one, enabled: false must be explicit (the boot warns).',
      properties: {
        enabled: { type: 'boolean', default: true },
        windowMs: { type: 'integer', minimum: 1000, default: 60000 },
        defaultTier: { type: 'string', default: 'default', description: 'The tier of callers that carry none.' },
        tiers: {
          type: 'object',
          additionalProperties: { type: 'integer', minimum: 1 },
          // Neutral: the deployment names its own tiers (config/default.yaml does).
          default: { default: 60 },
          description: 'Requests per window for each tier.',
        },
        warning: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.9 },
            header: { type: 'string', default: 'X-RateLimit-Warning' },
            message: {
              type: 'string',
              minLength: 1,
              default: 'Approaching rate limit ({used}/{limit} requests used)',
              description: 'Placeholders: {used}, {limit}, {remaining}, {window_seconds}.',
            },
          },
        },
        algorithm: {
          enum: ['gcra', 'sliding-window'],
          default: 'gcra',
          description:
            'gcra: a burst of limit, then one per windowMs/limit. sliding-window: a strict sliding log, never more than limit in any windowMs.',
        },
        headers: {
          type: 'array',
          uniqueItems: true,
          default: ['x-ratelimit', 'ietf'],
          items: { enum: ['x-ratelimit', 'x-ratelimit-retryafter', 'ietf'] },
          description:
            'x-ratelimit: X-RateLimit-Limit/Remaining/Reset; x-ratelimit-retryafter: X-RateLimit-RetryAfter on 429; ietf: RateLimit and RateLimit-Policy.',
        },
        details: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Field names of the 429 error details.',
          properties: {
            limit: { type: 'string', minLength: 1, default: 'limit' },
            windowSeconds: { type: 'string', minLength: 1, default: 'window_seconds' },
            retryAfter: { type: 'string', minLength: 1, default: 'retry_after' },
          },
        },
        authFailures: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'Failed authentications (401 from any scheme) allowed per client IP; past it, 429 without authenticating.',
          properties: {
            limit: { type: 'integer', minimum: 1, default: 20 },
            windowMs: { type: 'integer', minimum: 1000, default: 60000 },
          },
        },
      },
    },
    idempotency: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Idempotency-Key handling on operations marked `x-idempotent: true` (needs adapters.cache).',
      properties: {
        ttlSeconds: {
          type: 'integer',
          minimum: 1,
          default: 86400,
          description: 'How long a stored response is replayed.',
        },
        leaseSeconds: {
          type: 'integer',
          minimum: 1,
          default: 30,
          description:
            'Lock lease while the first request runs; renewed while it runs, so a crash frees the key after this.',
        },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false, description: 'Serve Prometheus metrics at `path`.' },
        path: { type: 'string', pattern: '^/[A-Za-z0-9._~/-]*$', default: '/metrics' },
        token: { type: 'string', minLength: 16, description: 'Require `Authorization: Bearer <token>`.' },
        allowCidrs: {
          type: 'array',
          items: { type: 'string' },
          default: [],
          description: 'Client networks allowed; with neither this nor a token, loopback only.',
        },
      },
    },
    health: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: {
          type: 'string',
          pattern: '^(/[A-Za-z0-9._~-]+)+$',
          default: '/health',
          description: 'Liveness path; readiness is `<path>/ready`.',
        },
        okStatus: {
          type: 'string',
          default: 'ok',
          description: 'The `status` of a healthy answer (`healthy` in some seeds).',
        },
        details: {
          type: 'array',
          uniqueItems: true,
          default: ['name', 'version', 'uptimeSeconds'],
          items: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]*$' },
          description:
            'Fields of the liveness body: name, version, uptime, uptimeSeconds, timestamp, checks, memory, cpu, or one a plugin contributes.',
        },
        readyCacheMs: {
          type: 'integer',
          minimum: 0,
          default: 2000,
          description: 'How long readiness results are reused; concurrent probes share one run.',
        },
        token: { type: 'string', description: 'A caller sending it as X-Health-Token sees check timings and errors.' },
        checkNames: {
          type: 'object',
          additionalProperties: { type: 'string' },
          default: {},
          description: 'Port -> name of its check (cache: redis).',
        },
      },
    },
    secrets: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Key-encryption keys for secrets stored at rest (envelope encryption, AES-256-GCM).',
      properties: {
        keys: {
          type: 'array',
          default: [],
          description:
            'KEKs, newest first: base64 of 32 bytes each (openssl rand -base64 32). Keep retired ones until every value is re-sealed.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'secret'],
            properties: {
              id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' },
              secret: { type: 'string', minLength: 1 },
            },
          },
        },
        activeKey: { type: 'string', description: 'The KEK id that seals new values; defaults to the first key.' },
        keyFile: {
          type: 'string',
          default: './data/secrets.key',
          description: 'Generated (mode 0600) when `keys` is empty; read if present.',
        },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
        requests: { type: 'boolean', default: true, description: 'One log line per request.' },
      },
    },
    telemetry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        serviceName: { type: 'string' },
        exporter: { enum: ['console', 'otlp', 'memory', 'none'], default: 'console' },
        endpoint: { type: 'string', description: 'OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces' },
      },
    },
    jobs: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        worker: {
          type: 'boolean', default: true, description: 'Run job workers in this process (`cli worker` always does).',
        },
        heartbeatMs: {
          type: 'integer', minimum: 50, default: 2000, description: 'Lease renewal; a crashed job re-runs within two.',
        },
        pollMs: {
          type: 'integer', minimum: 10, default: 500, description: 'How often idle workers look for due jobs.',
        },
        cancelPollMs: {
          type: 'integer', minimum: 10, default: 250, description: 'How often running jobs are checked for a cancel.',
        },
        shutdownTimeoutMs: {
          type: 'integer', minimum: 0, default: 10000,
          description: 'On stop, running jobs may finish this long; then they are handed back.',
        },
      },
    },
  },
};

export interface KernelConfig {
  name: string;
  server: {
    host: string;
    port: number;
    basePath: string;
    envelope: 'plain' | 'success';
    bodyLimitBytes: number;
    shutdownTimeoutMs: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    publicUrl?: string;
    trustProxy: boolean;
    validateResponses: boolean;
    compression: { enabled: boolean; thresholdBytes: number };
    cors: { enabled: boolean; origins: string[]; credentials: boolean; maxAgeSeconds: number };
    docs: { enabled: boolean; title?: string; paths: { swagger: string; redoc: string; openapi: string } };
    casing: 'camel' | 'snake';
    pagination: 'cursor' | 'page';
    messages: Record<string, string>;
    errors: {
      codes: Record<string, string>;
      suggestedActions: Record<string, string>;
      documentation?: string;
      details: 'nested' | 'flat';
    };
  };
  health: {
    path: string;
    okStatus: string;
    details: string[];
    readyCacheMs: number;
    token?: string;
    checkNames: Record<string, string>;
  };
  database: {
    driver: 'sqlite' | 'postgresql' | 'mongodb';
    url: string;
    migrate: 'auto' | 'check' | 'off';
    debug: boolean;
    poolMax: number;
  };
  adapters: Record<string, { use: string; [option: string]: unknown }>;
  plugins: Record<string, { enabled?: boolean; [option: string]: unknown }>;
  rateLimit: {
    enabled: boolean;
    windowMs: number;
    defaultTier: string;
    tiers: Record<string, number>;
    warning: { threshold: number; header: string; message?: string };
    authFailures: { limit: number; windowMs: number };
    // Always filled by the schema's defaults; optional so that hand-built configs (tests, bench) need not name them.
    algorithm?: 'gcra' | 'sliding-window';
    headers?: Array<'x-ratelimit' | 'x-ratelimit-retryafter' | 'ietf'>;
    details?: { limit: string; windowSeconds: string; retryAfter: string };
  };
  idempotency: { ttlSeconds: number; leaseSeconds: number };
  metrics: { enabled: boolean; path: string; token?: string; allowCidrs: string[] };
  log: { level: string; requests: boolean };
  secrets: { keys: Array<{ id: string; secret: string }>; activeKey?: string; keyFile: string };
  jobs?: { worker: boolean; heartbeatMs: number; pollMs: number; cancelPollMs: number; shutdownTimeoutMs: number };
  telemetry: {
    enabled: boolean;
    serviceName?: string;
    exporter: 'console' | 'otlp' | 'memory' | 'none';
    endpoint?: string;
  };
}
