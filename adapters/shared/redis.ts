import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * Connects a lazily-created ioredis client, logging one line per change of connection state
 * (ioredis would print every failed attempt), and fails with a clear, password-free error.
 */
export async function connectRedis<T extends Redis>(redis: T, url: string, logger: Logger, what: string): Promise<T> {
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) logger.warn({ err }, `${what} connection error`);
    lastError = err.message;
  });
  redis.on('ready', () => { lastError = ''; });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Cannot connect to Redis at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  return redis;
}

/** The connection options every Redis adapter takes (`adapters.<port>` beside `use`). */
export function redisConnectionProperties(defaults: { keyPrefix: string; commandTimeoutMs: number }) {
  return {
    url: { type: 'string', pattern: '^rediss?://' },
    keyPrefix: { type: 'string', default: defaults.keyPrefix },
    connectTimeoutMs: { type: 'integer', minimum: 1, default: 2000 },
    commandTimeoutMs: { type: 'integer', minimum: 1, default: defaults.commandTimeoutMs },
  };
}
