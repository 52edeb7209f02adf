import { lookup as dnsLookup } from 'node:dns/promises';
import { channel } from 'node:diagnostics_channel';
import type { LookupAddress } from 'node:dns';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { trace } from '@opentelemetry/api';
import type { AdapterContext, AdapterLifecycle } from '../../kernel/ports/adapter.ts';
import {
  EGRESS_CALL_CHANNEL, type Egress, type EgressCallEvent, type EgressRequest, type EgressResponse,
  type EgressStreamResponse,
} from '../../kernel/ports/egress.ts';
import { AppError, errors, isAppError } from '../../kernel/errors.ts';
import { SsrfGuard, ipLiteral, parseCidrs, type Verdict } from './ssrfGuard.ts';

export interface UndiciEgressOptions {
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  maxResponseBytes?: number;
  /** Upper bound on a call's `followRedirects`. */
  maxRedirects?: number;
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxRetryAfterMs?: number };
  ssrfGuard?: boolean;
  allowCidrs?: string[];
  userAgent?: string;
  keepAliveTimeoutMs?: number;
  connectionsPerOrigin?: number;
}

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

/** Seams for tests; deployments never set them. */
export interface EgressHooks {
  /** DNS; default getaddrinfo with every address (`dns.lookup(all)`). */
  resolve?: Resolver;
  /** Waits between retries; default a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Sends through this dispatcher instead of the guarded Agent (nock's); IP-literal checks still apply. */
  dispatcher?: Dispatcher;
  random?: () => number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const RETRY_STATUS = new Set([408, 429, 502, 503, 504]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_INFO',
]);
const TIMEOUT_PHASE: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect', UND_ERR_HEADERS_TIMEOUT: 'headers', UND_ERR_BODY_TIMEOUT: 'body',
};

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });

const calls = channel(EGRESS_CALL_CHANNEL);

const OUTCOMES: Record<string, EgressCallEvent['outcome']> = {
  EGRESS_BLOCKED: 'blocked', EGRESS_INVALID_URL: 'invalid',
  EGRESS_RESPONSE_TOO_LARGE: 'too_large', DEPENDENCY_TIMEOUT: 'timeout',
};

/** Drops a response body (and its connection); the abort error it emits is expected. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * Reads what is left of a body the caller no longer needs and drops it, so the connection goes back to the pool
 * (destroying an unfinished body closes it: the next call would open a new one). At most 64 KiB and 2 s, else the
 * connection is dropped after all.
 */
function drain(body: Dispatcher.ResponseData['body']): void {
  if (body.readableEnded) return;
  const timer = setTimeout(() => discard(body), 2000).unref();
  body.dump({ limit: 64 * 1024 }).catch(() => {}).finally(() => clearTimeout(timer));
}

function blocked(host: string, verdict: Extract<Verdict, { allowed: false }>): AppError {
  const message = `Outbound request to ${host} refused: it is not a public address (${verdict.range})`;
  return new AppError(400, 'EGRESS_BLOCKED', message, {
    details: { host, reason: verdict.range },
    // The resolved address stays server-side: logs, not the response.
    cause: { address: verdict.address, range: verdict.range },
  });
}

const invalid = (message: string) => new AppError(400, 'EGRESS_INVALID_URL', message);

function parseTarget(url: string | URL, base?: URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw invalid('Outbound request URL is not a valid absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid(`Outbound request URL must be http or https, not ${parsed.protocol}`);
  }
  // As fetch does: credentials belong in headers, not in a URL that ends up in logs.
  if (parsed.username || parsed.password) throw invalid('Outbound request URL must not contain credentials');
  return parsed;
}

/** Seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function flatHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    out[lower] = Array.isArray(value) ? value.join(lower === 'set-cookie' ? '\n' : ', ') : value;
  }
  return out;
}

interface Attempt { status: number; headers: Record<string, string>; body: Buffer }

export async function createUndiciEgress(
  options: UndiciEgressOptions, ctx: AdapterContext, hooks: EgressHooks = {},
): Promise<Egress & AdapterLifecycle> {
  const o = {
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    headersTimeoutMs: options.headersTimeoutMs ?? 15_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 30_000,
    maxResponseBytes: options.maxResponseBytes ?? 10 * 1024 * 1024,
    maxRedirects: options.maxRedirects ?? 5,
    attempts: options.retry?.attempts ?? 3,
    baseDelayMs: options.retry?.baseDelayMs ?? 200,
    maxDelayMs: options.retry?.maxDelayMs ?? 5000,
    maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 10_000,
    userAgent: options.userAgent ?? `${ctx.serviceName} (api-kernel egress)`,
  };
  const allowCidrs = options.allowCidrs ?? [];
  const guard = new SsrfGuard(parseCidrs(allowCidrs), options.ssrfGuard ?? true);
  if (allowCidrs.length) {
    const message = 'egress: SSRF guard allowlist in effect (development and tests only): these ranges are reachable';
    ctx.logger.warn({ allowCidrs }, message);
  }
  if (!guard.enabled) ctx.logger.warn('egress: SSRF guard is OFF: outbound calls may reach private and loopback hosts');
  const resolve: Resolver = hooks.resolve ?? ((hostname) => dnsLookup(hostname, { all: true, verbatim: true }));
  const sleep = hooks.sleep ?? defaultSleep;
  const random = hooks.random ?? Math.random;

  /** Resolves once, refuses if any answer is not public, and hands the socket the first vetted one. */
  async function vet(hostname: string): Promise<LookupAddress> {
    const answers = await resolve(hostname);
    if (!answers.length) throw Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
    for (const answer of answers) {
      const verdict = guard.check(answer.address);
      if (!verdict.allowed) {
        const where = { host: hostname, address: answer.address, range: verdict.range };
        ctx.logger.warn(where, 'egress: refused a non-public address');
        throw blocked(hostname, verdict);
      }
    }
    return answers[0];
  }

  // net.connect calls this for names only (never for IP literals, checked before sending); what it
  // returns is the address dialled, so no second DNS answer can move the socket elsewhere.
  const lookup = (hostname: string, opts: { all?: boolean }, cb: (...args: any[]) => void) => {
    vet(hostname).then(
      (a) => (opts.all ? cb(null, [{ address: a.address, family: a.family }]) : cb(null, a.address, a.family)),
      (err) => cb(err),
    );
  };
  const agent = new Agent({
    connect: { timeout: o.connectTimeoutMs, lookup: lookup as never },
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4000,
    connections: options.connectionsPerOrigin ?? 32,
  });
  const dispatcher = hooks.dispatcher ?? agent;

  // A hostname's verdict depends only on the guard's fixed configuration: judged once per hostname (names too,
  // which are no literal), not with ipaddr.js's parse on every call. Bounded; the oldest go first.
  const literals = new Map<string, Verdict | undefined>();
  function literalVerdict(hostname: string): Verdict | undefined {
    if (literals.has(hostname)) return literals.get(hostname);
    const literal = ipLiteral(hostname);
    const verdict = literal === undefined ? undefined : guard.check(literal);
    if (literals.size >= 1024) literals.delete(literals.keys().next().value!);
    literals.set(hostname, verdict);
    return verdict;
  }

  function checkLiteral(url: URL): void {
    const verdict = literalVerdict(url.hostname);
    if (!verdict) return;
    if (!verdict.allowed) {
      ctx.logger.warn({ host: url.host, range: verdict.range }, 'egress: refused a non-public address');
      throw blocked(url.host, verdict);
    }
  }

  function mapError(err: unknown, url: URL): unknown {
    if (isAppError(err)) return err;
    const e = err as { code?: string; name?: string; cause?: unknown };
    if (e?.name === 'AbortError') return err;
    if (isAppError(e?.cause)) return e.cause;
    const phase = e?.code ? TIMEOUT_PHASE[e.code] : undefined;
    if (phase) {
      return new AppError(503, 'DEPENDENCY_TIMEOUT', `Outbound request to ${url.host} timed out (${phase})`, {
        details: { dependency: 'egress', host: url.host, phase, retry_after: 2 },
        headers: { 'Retry-After': '2' },
        cause: err,
      });
    }
    if (e?.code && UNAVAILABLE_CODES.has(e.code)) return errors.unavailable(`egress ${url.host}`, 5, err);
    return err;
  }

  async function readCapped(body: Dispatcher.ResponseData['body'], max: number, url: URL): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > max) {
        discard(body);
        throw new AppError(502, 'EGRESS_RESPONSE_TOO_LARGE', `Response from ${url.host} is larger than ${max} bytes`, {
          details: { host: url.host, max_bytes: max },
        });
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async function once(
    url: URL, method: string, headers: Record<string, string>,
    body: string | Uint8Array | undefined, req: EgressRequest,
  ): Promise<Attempt> {
    checkLiteral(url);
    const max = req.maxResponseBytes ?? o.maxResponseBytes;
    try {
      const res = await undiciRequest(url, {
        method: method as Dispatcher.HttpMethod, headers, body, dispatcher, signal: req.signal,
        headersTimeout: req.timeouts?.headersMs ?? o.headersTimeoutMs,
        bodyTimeout: req.timeouts?.bodyMs ?? o.bodyTimeoutMs,
      });
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) {
        discard(res.body);
        throw new AppError(502, 'EGRESS_RESPONSE_TOO_LARGE', `Response from ${url.host} is larger than ${max} bytes`, {
          details: { host: url.host, max_bytes: max },
        });
      }
      return { status: res.statusCode, headers: flatHeaders(res.headers), body: await readCapped(res.body, max, url) };
    } catch (err) {
      throw mapError(err, url);
    }
  }

  const retryable = (err: unknown) =>
    isAppError(err) && (err.code === 'DEPENDENCY_TIMEOUT' || err.code === 'SERVICE_UNAVAILABLE');
  const backoff = (n: number) => Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (n - 1)) * (0.5 + random() / 2);

  function outcomeOf(err: unknown): EgressCallEvent['outcome'] {
    if (!isAppError(err)) return 'unavailable';
    return OUTCOMES[err.code] ?? 'unavailable';
  }

  return {
    async request(req) {
      const started = performance.now();
      let firstHost = '';
      let method = (req.method ?? 'GET').toUpperCase();
      const prepared = outgoing(req, o.userAgent);
      const { headers } = prepared;
      let { body } = prepared;
      const maxAttempts = 1 + Math.max(0, req.retries ?? o.attempts - 1);
      const maxHops = Math.min(req.followRedirects ?? 0, o.maxRedirects);
      let attempts = 0;
      let redirects = 0;
      const report = (event: Omit<EgressCallEvent, 'method' | 'host' | 'durationMs' | 'attempts' | 'redirects'>) => {
        const durationMs = performance.now() - started;
        trace.getActiveSpan()?.setAttributes({
          'http.request.method': method, 'server.address': firstHost,
          'egress.attempts': attempts, 'egress.redirects': redirects,
          'egress.outcome': event.outcome, ...(event.status ? { 'http.response.status_code': event.status } : {}),
        });
        if (!calls.hasSubscribers) return;
        calls.publish({ method, host: firstHost, durationMs, attempts, redirects, ...event } satisfies EgressCallEvent);
      };
      try {
        let url = parseTarget(req.url);
        firstHost = url.host;
        for (;;) {
          const canRetry = req.idempotent ?? IDEMPOTENT.has(method);
          let result: Attempt | undefined;
          for (let n = 1; ; n++) {
            attempts++;
            try {
              result = await once(url, method, headers, body, req);
            } catch (err) {
              if (!canRetry || n >= maxAttempts || !retryable(err)) throw err;
              await sleep(backoff(n), req.signal);
              continue;
            }
            if (!canRetry || n >= maxAttempts || !RETRY_STATUS.has(result.status)) break;
            const hinted = retryAfterMs(result.headers['retry-after'], ctx.clock.now());
            if (hinted !== undefined && hinted > o.maxRetryAfterMs) break; // longer than we may wait: hand it back
            await sleep(hinted ?? backoff(n), req.signal);
          }
          const location = result.headers.location;
          if (REDIRECT_STATUS.has(result.status) && location && redirects < maxHops) {
            const next = parseTarget(location, url);
            if (next.origin !== url.origin) for (const h of CREDENTIAL_HEADERS) delete headers[h];
            const toGet = result.status === 303 ? method !== 'HEAD' : result.status <= 302 && method === 'POST';
            if (toGet) {
              method = 'GET';
              body = undefined;
              delete headers['content-type'];
              delete headers['content-length'];
            }
            url = next;
            redirects++;
            continue;
          }
          report({ outcome: result.status < 400 ? 'ok' : 'http_error', status: result.status });
          const final = result;
          const finalUrl = url.toString();
          return {
            status: final.status, headers: final.headers, body: final.body, url: finalUrl, attempts, redirects,
            text: () => final.body.toString('utf8'),
            json: <T>() => JSON.parse(final.body.toString('utf8')) as T,
          } satisfies EgressResponse;
        }
      } catch (err) {
        report({ outcome: outcomeOf(err) });
        throw err;
      }
    },

    async stream(req) {
      const started = performance.now();
      const method = (req.method ?? 'GET').toUpperCase();
      const { headers, body } = outgoing(req, o.userAgent);
      const url = parseTarget(req.url);
      const max = req.maxResponseBytes ?? o.maxResponseBytes;
      const report = (event: Pick<EgressCallEvent, 'outcome' | 'status'>) => {
        if (!calls.hasSubscribers) return;
        const durationMs = performance.now() - started;
        calls.publish({ method, host: url.host, durationMs, attempts: 1, redirects: 0, ...event });
      };
      let res: Dispatcher.ResponseData;
      try {
        checkLiteral(url);
        res = await undiciRequest(url, {
          method: method as Dispatcher.HttpMethod, headers, body, dispatcher, signal: req.signal,
          headersTimeout: req.timeouts?.headersMs ?? o.headersTimeoutMs,
          bodyTimeout: req.timeouts?.bodyMs ?? o.bodyTimeoutMs,
        });
      } catch (err) {
        const mapped = mapError(err, url);
        report({ outcome: outcomeOf(mapped) });
        throw mapped;
      }
      const source = res.body;
      const status = res.statusCode;
      let released = false;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        let size = 0;
        try {
          // Not destroyed when the caller leaves the loop: the finally below drops or drains it.
          for await (const chunk of source.iterator({ destroyOnReturn: false })) {
            size += (chunk as Buffer).length;
            if (size > max) {
              throw new AppError(
                502,
                'EGRESS_RESPONSE_TOO_LARGE',
                `Response from ${url.host} is larger than ${max} bytes`,
                {
                  details: { host: url.host, max_bytes: max },
                },
              );
            }
            yield chunk as Buffer;
          }
          report({ outcome: status < 400 ? 'ok' : 'http_error', status });
        } catch (err) {
          const mapped = mapError(err, url);
          report({ outcome: outcomeOf(mapped), status });
          throw mapped;
        } finally {
          if (!source.destroyed) {
            if (released) drain(source);
            else discard(source);
          }
        }
      }
      return {
        status, headers: flatHeaders(res.headers), url: url.toString(), body: chunks(),
        cancel: () => discard(source),
        release: () => { released = true; },
      } satisfies EgressStreamResponse;
    },

    async close() {
      await agent.close().catch(() => agent.destroy());
    },
  };
}

/** Lower-cased headers with the adapter's user agent, and the body (`json` serialised, with its content type). */
function outgoing(req: EgressRequest, userAgent: string):
  { headers: Record<string, string>; body: EgressRequest['body'] } {
  const headers: Record<string, string> = { 'user-agent': userAgent };
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  if (req.json === undefined) return { headers, body: req.body };
  headers['content-type'] ??= 'application/json';
  return { headers, body: JSON.stringify(req.json) };
}
