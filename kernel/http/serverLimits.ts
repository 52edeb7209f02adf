import type { Server, ServerOptions } from 'node:http';
import type { KernelConfig } from '../config/schema.ts';

type Limits = Pick<
  KernelConfig['server'],
  'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnections'
>;

/**
 * Node's http server options from config: a slow body (1 byte every few seconds) is cut off
 * after `requestTimeoutMs` with a 408, slow headers after `headersTimeoutMs` (at most the
 * request timeout, as Node requires). Expiry is checked every quarter of the shorter one, at
 * most once a second (Node's default check runs every 30 s, far too late for short timeouts).
 */
export function serverOptions(limits: Limits): ServerOptions {
  const requestTimeout = limits.requestTimeoutMs;
  const headersTimeout =
    requestTimeout > 0 ? Math.min(limits.headersTimeoutMs, requestTimeout) : limits.headersTimeoutMs;
  const shortest = Math.min(...[requestTimeout, headersTimeout].filter((t) => t > 0), 4000);
  return {
    requestTimeout,
    headersTimeout,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(25, Math.floor(shortest / 4)),
  };
}

/** Connections past `maxConnections` (0: no cap) are closed by Node as they arrive. */
export function applyConnectionLimit(server: Server, limits: Limits): void {
  if (limits.maxConnections > 0) server.maxConnections = limits.maxConnections;
}
