/**
 * Suites that need a real service run when its URL is set. When it is not, they say so;
 * with REQUIRE_SERVICES=1 a missing service is a failure instead.
 */
export type ServiceVar = 'DATABASE_URL' | 'REDIS_URL' | 'KAFKA_BROKERS' | 'MONGO_URL';

export function serviceUrl(name: ServiceVar, suite: string): string | undefined {
  const value = process.env[name];
  if (value) return value;
  if (process.env.REQUIRE_SERVICES === '1') {
    throw new Error(`${suite}: ${name} is not set and REQUIRE_SERVICES=1`);
  }
  console.log(`  SKIPPED ${suite}: ${name} is not set`);
  return undefined;
}

/** Unique names so that runs sharing one server never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
