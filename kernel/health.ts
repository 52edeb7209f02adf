import { cpus, totalmem } from 'node:os';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { KernelConfig } from './config/schema.ts';
import type { Clock } from './ports/clock.ts';

export interface HealthResult {
  name: string; ok: boolean; ms: number; error?: string;
  /** Parts that work but not fully (a cooled-down AI vendor): ready stays 200 with `status: degraded`. */
  degraded?: string[];
}

/** A value for the liveness body, contributed by a plugin (`healthDetails`) under a name. */
export type HealthContributor = () => unknown | Promise<unknown>;

/** `health.path` moves the system plugin's `/health` and `/health/ready`. */
export function healthRelocation(config: KernelConfig): ((plugin: string, path: string) => string) | undefined {
  const target = config.health?.path ?? '/health';
  if (target === '/health') return undefined;
  const moved = (path: string) => path === '/health' || path.startsWith('/health/');
  return (plugin, path) => (plugin === 'system' && moved(path) ? target + path.slice('/health'.length) : path);
}

const MB = 1024 * 1024;

/** The JSON Schema of each kernel-made liveness detail (plugin ones are open). */
export const DETAIL_SCHEMAS: Record<string, unknown> = {
  name: { type: 'string' },
  version: { type: 'string' },
  uptime: { type: 'integer', minimum: 0, description: 'Seconds since start.' },
  uptimeSeconds: { type: 'number', minimum: 0 },
  timestamp: { type: 'string', format: 'date-time' },
  checks: {
    type: 'object',
    'x-casing': 'preserve',
    additionalProperties: { enum: ['healthy', 'unhealthy'] },
    description: 'Dependency -> state.',
  },
  memory: {
    type: 'object',
    required: ['used', 'total', 'percentage'],
    properties: {
      used: { type: 'number', description: 'MB (RSS)' },
      total: { type: 'number', description: 'MB' },
      percentage: { type: 'number' },
    },
  },
  cpu: {
    type: 'object',
    required: ['usage', 'cores'],
    properties: {
      usage: { type: 'number', description: '% of one core since the last probe' },
      cores: { type: 'integer' },
    },
  },
};

/** The liveness body schema for the configured details. */
export function livenessSchema(config: KernelConfig['health']): Record<string, unknown> {
  const properties: Record<string, unknown> = { status: { type: 'string', examples: [config.okStatus] } };
  for (const name of config.details) properties[name] = DETAIL_SCHEMAS[name] ?? {};
  return { type: 'object', required: ['status', ...config.details], properties };
}

/**
 * Liveness and readiness. Readiness runs every dependency check at most once per
 * `health.readyCacheMs`; concurrent probes share the run in flight. Callers see names and
 * states only; timings and errors go to the log, or to a caller holding `health.token`.
 */
export class HealthService {
  private cached?: { at: number; results: Promise<HealthResult[]> };
  private cpuSample = { at: performance.now(), usage: process.cpuUsage() };
  private readonly tokenHash?: Buffer;

  constructor(private opts: {
    run: () => Promise<HealthResult[]>;
    clock: Clock;
    config: KernelConfig['health'];
    info: { name: string; version: string; startedAt: number };
    contributors: Map<string, HealthContributor>;
    logger: Logger;
  }) {
    if (opts.config.token) this.tokenHash = createHash('sha256').update(opts.config.token).digest();
  }

  /** Dependency results, from the cache when fresh. */
  check(): Promise<HealthResult[]> {
    const now = this.opts.clock.now();
    if (this.cached && now - this.cached.at < this.opts.config.readyCacheMs) return this.cached.results;
    const results = this.opts.run().then((list) => {
      const failing = list.filter((c) => !c.ok);
      if (failing.length) this.opts.logger.warn({ failing }, 'readiness checks failed');
      return list;
    });
    this.cached = { at: now, results };
    // A run that rejects (it should not) is not cached.
    results.catch(() => { if (this.cached?.results === results) this.cached = undefined; });
    return results;
  }

  /** Whether `X-Health-Token` matches `health.token` (constant time). */
  authorized(headers: Record<string, string | string[] | undefined>): boolean {
    const given = headers['x-health-token'];
    if (!this.tokenHash || typeof given !== 'string') return false;
    return timingSafeEqual(createHash('sha256').update(given).digest(), this.tokenHash);
  }

  async ready(headers: Record<string, string | string[] | undefined>) {
    const results = await this.check();
    const full = this.authorized(headers);
    const slim = (c: HealthResult) => ({
      name: c.name,
      ok: c.ok,
      ...(c.degraded?.length ? { degraded: c.degraded } : {}),
    });
    return {
      ok: results.every((c) => c.ok),
      degraded: results.some((c) => c.degraded?.length),
      checks: results.map((c) => (full ? { ...c } : slim(c))),
    };
  }

  /** The liveness body with the configured details; `ok` is false when `checks` is shown and one fails. */
  async live(): Promise<{ ok: boolean; body: Record<string, unknown> }> {
    const { config, info } = this.opts;
    const body: Record<string, unknown> = { status: config.okStatus };
    let ok = true;
    for (const name of config.details) {
      switch (name) {
        case 'name': body.name = info.name; break;
        case 'version': body.version = info.version; break;
        case 'uptime': body.uptime = Math.floor((Date.now() - info.startedAt) / 1000); break;
        case 'uptimeSeconds': body.uptimeSeconds = (Date.now() - info.startedAt) / 1000; break;
        case 'timestamp': body.timestamp = this.opts.clock.date().toISOString(); break;
        case 'memory': body.memory = memory(); break;
        case 'cpu': body.cpu = this.cpu(); break;
        case 'checks': {
          const results = await this.check();
          ok = results.every((c) => c.ok);
          body.checks = Object.fromEntries(results.map((c) => [c.name, c.ok ? 'healthy' : 'unhealthy']));
          break;
        }
        default: {
          const contributor = this.opts.contributors.get(name);
          body[name] = contributor ? await contributor() : null;
        }
      }
    }
    if (!ok) body.status = 'unhealthy';
    return { ok, body };
  }

  private cpu() {
    const now = performance.now();
    const usage = process.cpuUsage();
    const elapsedMs = Math.max(1, now - this.cpuSample.at);
    const usedMs = (usage.user - this.cpuSample.usage.user + usage.system - this.cpuSample.usage.system) / 1000;
    this.cpuSample = { at: now, usage };
    return { usage: Math.round((usedMs / elapsedMs) * 1000) / 10, cores: cpus().length };
  }
}

function memory() {
  const used = process.memoryUsage().rss / MB;
  const total = totalmem() / MB;
  return { used: Math.round(used), total: Math.round(total), percentage: Math.round((used / total) * 1000) / 10 };
}
