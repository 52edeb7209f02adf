/** Vendor HTTP through the egress port: timeouts, the caller's AbortSignal, and vendor failures as AiErrors. */
import type { Egress, EgressRequest } from '../../../kernel/ports/egress.ts';
import { AiError, isAiError, type CallOptions } from '../../../kernel/ports/aiProvider.ts';
import { isAppError } from '../../../kernel/errors.ts';

export interface VendorHttp {
  /** Provider name, for errors. */
  provider: string;
  egress: () => Egress;
  /** Until the response (streamed: its headers) arrives. */
  timeoutMs: number;
  /** Longest silence between two chunks of a streamed body. */
  idleTimeoutMs: number;
  now: () => number;
}

export interface VendorCall {
  url: string;
  method?: string;
  headers: Record<string, string>;
  json?: unknown;
  body?: string | Uint8Array;
}

export interface VendorResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The raw body (images, audio). */
  bytes: Buffer;
  json<T>(): T;
}

/** Seconds (`retry-after`), milliseconds (`retry-after-ms`, OpenAI) or an HTTP date. */
export function retryAfterOf(headers: Record<string, string>, nowMs: number): number | undefined {
  const ms = Number(headers['retry-after-ms']);
  if (headers['retry-after-ms'] && Number.isFinite(ms)) return Math.max(0, ms);
  const value = headers['retry-after'];
  if (!value) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Vendors quote the key they refused ("Incorrect API key provided: sk-..."): never pass that on. */
const KEYISH = /\b(?:sk|pk|rk|key|AIza|xai|gsk)[-_A-Za-z0-9*]{12,}/g;

/** The vendor's own words from an error body (`{error: {message}}` on every vendor here), shortened, keys masked. */
function vendorMessage(text: string): string {
  return rawVendorMessage(text).replace(KEYISH, '[redacted]');
}

function rawVendorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    const m = typeof body.error === 'string' ? body.error : body.error?.message ?? body.message;
    if (m) return m.slice(0, 300);
  } catch { /* not JSON */ }
  return text.slice(0, 200);
}

/** Google puts the wait in the body: `error.details[{ '@type': '...RetryInfo', retryDelay: '30s' }]`. */
function retryDelayIn(text: string): number | undefined {
  const m = /"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"/.exec(text);
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

export function statusError(
  http: Pick<VendorHttp, 'provider' | 'now'>, status: number, headers: Record<string, string>, text: string,
): AiError {
  const vendor = http.provider;
  const said = vendorMessage(text);
  const o = { vendorStatus: status };
  if (status === 429) {
    const retryAfterMs = retryAfterOf(headers, http.now()) ?? retryDelayIn(text);
    return new AiError('rate_limited', vendor, `${vendor} rate limited the request: ${said}`, { ...o, retryAfterMs });
  }
  if (status === 401 || status === 403) return new AiError('auth', vendor, `${vendor} refused the key: ${said}`, o);
  if (status === 408) return new AiError('timeout', vendor, `${vendor} timed out (408)`, o);
  if (status >= 500) {
    const retryAfterMs = retryAfterOf(headers, http.now());
    return new AiError('unavailable', vendor, `${vendor} failed with ${status}: ${said}`, { ...o, retryAfterMs });
  }
  return new AiError('bad_request', vendor, `${vendor} rejected the request (${status}): ${said}`, o);
}

/** Any failure on the way (egress errors, aborts) as an AiError; `timedOut` tells our timer from the caller. */
export function transportError(http: VendorHttp, err: unknown, state: { timedOut: boolean; started: boolean },
  caller?: AbortSignal, partial?: AiError['partial']): AiError {
  const vendor = http.provider;
  if (isAiError(err)) return err;
  if (caller?.aborted) return new AiError('aborted', vendor, `The ${vendor} call was cancelled`, { cause: err });
  if (state.timedOut) {
    return new AiError('timeout', vendor, `${vendor} did not answer in time`, { cause: err, partial });
  }
  const code = isAppError(err) ? err.code : undefined;
  if (state.started) {
    const why = code === 'DEPENDENCY_TIMEOUT' ? 'went silent' : 'was cut';
    return new AiError('interrupted', vendor, `The ${vendor} stream ${why} before it finished`, {
      cause: err,
      partial,
    });
  }
  if (code === 'DEPENDENCY_TIMEOUT')
    return new AiError('timeout', vendor, `${vendor} did not answer in time`, { cause: err });
  if (code === 'EGRESS_BLOCKED' || code === 'EGRESS_INVALID_URL') {
    return new AiError('bad_request', vendor, `${vendor} base URL refused by egress: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return new AiError('unavailable', vendor, `${vendor} is unreachable`, { cause: err });
}

/** One AbortController for a call: aborted by the caller's signal or by the first-response timer. */
function callController(http: VendorHttp, options: CallOptions) {
  const controller = new AbortController();
  const state = { timedOut: false, started: false };
  const caller = options.signal;
  const onAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) controller.abort(caller.reason);
  else caller?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    state.timedOut = true;
    controller.abort(new Error('timeout'));
  }, options.timeoutMs ?? http.timeoutMs);
  return {
    signal: controller.signal, state,
    stopTimer: () => clearTimeout(timer),
    done: () => { clearTimeout(timer); caller?.removeEventListener('abort', onAbort); },
  };
}

function egressRequest(http: VendorHttp, call: VendorCall, signal: AbortSignal): EgressRequest {
  return {
    url: call.url, method: call.method ?? 'POST', headers: call.headers, json: call.json, body: call.body,
    retries: 0, signal, timeouts: { bodyMs: http.idleTimeoutMs },
  };
}

/** A whole (non-streamed) call. Status >= 400 throws the matching AiError. */
export async function send(http: VendorHttp, call: VendorCall, options: CallOptions = {}): Promise<VendorResponse> {
  const c = callController(http, options);
  if (c.signal.aborted) {
    c.done();
    throw transportError(http, c.signal.reason, c.state, options.signal);
  }
  try {
    const res = await http.egress().request(egressRequest(http, call, c.signal));
    const text = res.text();
    if (res.status >= 400) throw statusError(http, res.status, res.headers, text);
    const json = <T>(): T => {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new AiError(
          'unavailable',
          http.provider,
          `${http.provider} answered ${res.status} with a body that is not JSON`,
        );
      }
    };
    return { status: res.status, headers: res.headers, text, bytes: res.body, json };
  } catch (err) {
    throw transportError(http, err, c.state, options.signal);
  } finally {
    c.done();
  }
}

export interface OpenStream {
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array>;
  /** Call once the first event is out, so a later cut is `interrupted` rather than `unavailable`. */
  started(): void;
  /** Maps an error thrown while reading the body. */
  fail(err: unknown, partial?: AiError['partial']): AiError;
  /** The vendor's end marker was read: what follows is drained, keeping the connection for the next call. */
  release(): void;
  close(): void;
}

/** A streamed call: resolves with the headers in; status >= 400 throws (its body read whole first). */
export async function openStream(http: VendorHttp, call: VendorCall, options: CallOptions = {}): Promise<OpenStream> {
  const c = callController(http, options);
  if (c.signal.aborted) {
    c.done();
    throw transportError(http, c.signal.reason, c.state, options.signal);
  }
  const egress = http.egress();
  try {
    const req = egressRequest(http, call, c.signal);
    let headers: Record<string, string>;
    let body: AsyncIterable<Uint8Array>;
    let cancel = () => {};
    let release = () => {};
    if (egress.stream) {
      const res = await egress.stream(req);
      if (res.status >= 400) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of res.body) chunks.push(chunk);
        throw statusError(http, res.status, res.headers, Buffer.concat(chunks).toString('utf8'));
      }
      ({ headers, body } = res);
      cancel = res.cancel;
      if (res.release) release = res.release;
    } else {
      const res = await egress.request(req);
      if (res.status >= 400) throw statusError(http, res.status, res.headers, res.text());
      headers = res.headers;
      body = (async function* () { yield res.body; })();
    }
    c.stopTimer();
    let released = false;
    return {
      headers, body,
      started: () => { c.state.started = true; },
      fail: (err, partial) => transportError(http, err, c.state, options.signal, partial),
      release: () => { released = true; release(); },
      close: () => { c.done(); if (!released) cancel(); },
    };
  } catch (err) {
    c.done();
    throw transportError(http, err, c.state, options.signal);
  }
}
