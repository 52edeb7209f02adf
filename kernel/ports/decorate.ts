import { AppError, errors, isAppError } from '../errors.ts';

/**
 * Decorators wrap any adapter without it knowing: every method that returns a promise
 * goes through them. They compose: the first in the list is the outermost.
 */
export interface CallInfo { port: string; adapter: string; method: string }
export type CallWrapper = (call: () => Promise<unknown>, info: CallInfo) => Promise<unknown>;

/** Methods that are not calls on behalf of a request. */
const LIFECYCLE = new Set(['close', 'health', 'drain', 'degraded']);

export function decorateAdapter<T extends object>(
  instance: T,
  info: { port: string; adapter: string },
  wrappers: CallWrapper[],
  skip: string[] = [],
): T {
  if (!wrappers.length) return instance;
  // One function per method, made on first access (a bound lookup like the AI registry's `has`/`get` is read
  // several times per call): remade only if the instance's method itself changes.
  const cache = new Map<PropertyKey, { source: unknown; fn: unknown }>();
  return new Proxy(instance, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const hit = cache.get(prop);
      if (hit && hit.source === value) return hit.fn;
      let fn: unknown;
      if (typeof prop !== 'string' || LIFECYCLE.has(prop) || skip.includes(prop)) fn = value.bind(target);
      else {
        const callInfo = { ...info, method: prop };
        const step = (i: number, args: unknown[]): Promise<unknown> =>
          i === wrappers.length
            ? Promise.resolve(value.apply(target, args))
            : wrappers[i](() => step(i + 1, args), callInfo);
        fn = (...args: unknown[]) => step(0, args);
      }
      cache.set(prop, { source: value, fn });
      return fn;
    },
  });
}

/** Rejects a call that takes longer than `ms` with a 503 naming the port. */
export function timeoutWrapper(ms: number): CallWrapper {
  return (call, info) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new AppError(503, 'DEPENDENCY_TIMEOUT', `${info.port}.${info.method} timed out after ${ms} ms`, {
              details: { dependency: info.port, retry_after: 2 },
              headers: { 'Retry-After': '2' },
            }),
          ),
        ms,
      );
      call().then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
    });
}

/** Turns a failing adapter call (connection refused, broker down) into a 503 with a retry hint. */
export const unavailableWrapper: CallWrapper = (call, info) =>
  call().catch((e) => {
    throw isAppError(e) ? e : errors.unavailable(info.port, 5, e);
  });

/** Reports each call's duration in seconds and whether it failed (adapter metrics). */
export function measuredWrapper(record: (info: CallInfo, seconds: number, failed: boolean) => void): CallWrapper {
  return (call, info) => {
    const started = performance.now();
    return call().then(
      (value) => { record(info, (performance.now() - started) / 1000, false); return value; },
      (err) => { record(info, (performance.now() - started) / 1000, true); throw err; },
    );
  };
}
