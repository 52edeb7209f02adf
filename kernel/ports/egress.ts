/**
 * Egress port: the one way out of the process over HTTP(S). Tools, webhooks, AI vendors and SSO
 * call `egress.request()` from their container instead of `fetch`, so every outbound call gets
 * timeouts, a response size cap, bounded retries and the SSRF guard.
 *
 * Adapter: adapters/egress/undici.ts. Conformance: test/ports/egress.suite.ts.
 *
 * Errors (AppError codes):
 * - `EGRESS_BLOCKED` (400): the target (or a redirect hop, or any address its name resolves to)
 *   is not a public address: loopback, private, link-local, CGNAT, multicast, unspecified,
 *   reserved, documentation, benchmarking or cloud metadata, in any IPv4 or IPv6 spelling.
 * - `EGRESS_INVALID_URL` (400): not an absolute http(s) URL, or one with credentials in it.
 * - `EGRESS_RESPONSE_TOO_LARGE` (502): the response body is larger than `maxResponseBytes`.
 * - `DEPENDENCY_TIMEOUT` (503, Retry-After): connect, headers or body took too long.
 * - `SERVICE_UNAVAILABLE` (503, Retry-After): the host does not resolve, refuses or drops the connection.
 * An HTTP error status from the remote (4xx, 5xx) is not an error: it is returned as the response.
 */
export interface EgressTimeouts {
  /** TCP (and TLS) connection set-up. Configured per deployment; not overridable per call. */
  connectMs?: number;
  /** From sending the request to the end of the response headers. */
  headersMs?: number;
  /** Longest silence between two chunks of the response body. */
  bodyMs?: number;
}

export interface EgressRequest {
  /** Absolute http: or https: URL. */
  url: string | URL;
  /** Default GET. */
  method?: string;
  headers?: Record<string, string>;
  /** A raw body; or use `json`, which also sets content-type. */
  body?: string | Uint8Array;
  json?: unknown;
  timeouts?: Omit<EgressTimeouts, 'connectMs'>;
  /** Caps the response body; default the adapter's `maxResponseBytes`. */
  maxResponseBytes?: number;
  /** Redirects are returned as responses unless this is a number of hops to follow (capped by the adapter). */
  followRedirects?: number;
  /**
   * Retries on connection failures, timeouts, 408, 429, 502, 503 and 504, with backoff and
   * honouring Retry-After. Only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) are
   * retried unless `idempotent: true` (e.g. a POST carrying an Idempotency-Key). `retries: 0` disables.
   */
  retries?: number;
  idempotent?: boolean;
  signal?: AbortSignal;
}

export interface EgressResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", " (set-cookie with "\n"). */
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: string;
  /** Attempts made (1 when not retried). */
  attempts: number;
  /** Redirect hops followed. */
  redirects: number;
  text(): string;
  /** Parses the body as JSON; throws a SyntaxError when it is not. */
  json<T = unknown>(): T;
}

/** A response whose body is handed over as it arrives (server-sent events, large downloads). */
export interface EgressStreamResponse {
  status: number;
  /** Lower-case names, as in `EgressResponse`. */
  headers: Record<string, string>;
  url: string;
  /**
   * The body chunks. Iterating past a dropped connection, a body timeout or the size cap throws the same
   * AppErrors as `request()`; leaving the loop early (break, return) drops the connection.
   */
  body: AsyncIterable<Uint8Array>;
  /** Drops the body and its connection without reading it. */
  cancel(): void;
  /**
   * The caller has what it needs (a stream's end marker): leaving the loop afterwards reads what is left of the body
   * in the background and drops it (bounded in bytes and time) instead of the connection, which then serves the
   * next call. Adapters without connection reuse need not have it.
   */
  release?(): void;
}

export interface Egress {
  request(request: EgressRequest): Promise<EgressResponse>;
  /**
   * Like `request()`, but resolves once the headers are in and streams the body. Redirects are not
   * followed and nothing is retried once the headers are in (`followRedirects` is ignored). Optional so that
   * test doubles of `request()` stay valid; callers fall back to `request()` when it is absent.
   */
  stream?(request: EgressRequest): Promise<EgressStreamResponse>;
}

/**
 * Every finished call is published on this `node:diagnostics_channel` channel (only when somebody
 * subscribes, so it costs nothing otherwise): a metrics exporter subscribes to it.
 */
export const EGRESS_CALL_CHANNEL = 'api-kernel:egress:call';

export interface EgressCallEvent {
  method: string;
  /** Host of the first URL (no path or query: they may carry secrets). */
  host: string;
  /** Final HTTP status, when a response came back. */
  status?: number;
  outcome: 'ok' | 'http_error' | 'blocked' | 'timeout' | 'unavailable' | 'too_large' | 'invalid';
  durationMs: number;
  attempts: number;
  redirects: number;
}
