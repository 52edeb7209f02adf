import { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { Principal } from '../plugin.ts';

/** What an observer learns about each finished request. */
export interface FinishedRequest {
  requestId: string;
  method: string;
  /** `<plugin>.<operation>`; null when no contract route matched (404, docs, metrics). */
  operationId: string | null;
  /** The contract path as served, e.g. `/v1/notes/{id}`; null when no route matched. */
  route: string | null;
  principalId: string | null;
  /** `user`, `apiKey`, `client`...: the principal's type; null on anonymous requests. */
  principalType: string | null;
  status: number;
  /** Request body bytes: its Content-Length, or for a chunked body the bytes read of it. */
  bytesIn: number;
  /** Response body bytes as written (after compression). */
  bytesOut: number;
  durationMs: number;
  /** The client went away before the response was finished. */
  aborted: boolean;
}

/**
 * Called once per finished request, after the response is sent: it never delays it. An
 * observer that throws, rejects or is slow is logged; the request is unaffected.
 */
export type RequestObserver = (request: FinishedRequest) => void | Promise<void>;

/** A plugin's observer (metering, audit), made once at start from the plugin's container. */
export interface RequestObserverDefinition {
  name: string;
  /** `cradle` holds the plugin's services and ports, as service factories get them. */
  create(cradle: Record<string, unknown>): RequestObserver;
}

/** Kernel-internal hooks (metrics): synchronous, called on the request's start and end. */
export interface RequestHooks {
  started(): void;
  finished(request: FinishedRequest): void;
}

export type RequestWatch = (ctx: Context, startedAt: number) => void;

/** A sync observer that blocks this long, or an async one that settles after SLOW_ASYNC_MS, is logged as slow. */
const SLOW_SYNC_MS = 20;
const SLOW_ASYNC_MS = 5000;
/** Async observer calls still pending past this are dropped (and counted), so a stuck observer cannot eat memory. */
const MAX_PENDING = 1000;

/** Builds the record for a finished request. An object so tests can watch that it is not called. */
export const observation = {
  build(ctx: Context, startedAt: number, bytesIn: number, bytesOut: number, aborted: boolean): FinishedRequest {
    const principal = ctx.state.principal as Principal | undefined;
    return {
      requestId: ctx.state.requestId,
      method: ctx.method,
      operationId: (ctx.state.operationId as string | undefined) ?? null,
      route: (ctx.state.routeTemplate as string | undefined) ?? null,
      principalId: principal?.id ?? null,
      principalType: principal?.type ?? null,
      status: ctx.status,
      bytesIn,
      bytesOut,
      durationMs: performance.now() - startedAt,
      aborted,
    };
  },
};

interface Named { name: string; observe: RequestObserver; pending: number; dropped: number }

/**
 * The per-request watch for the app's boundary, or undefined when nobody observes: then
 * requests pay one branch and build nothing.
 */
export function requestWatcher(
  observers: Array<{ name: string; observe: RequestObserver }>, logger: Logger, hooks?: RequestHooks,
): RequestWatch | undefined {
  if (!observers.length && !hooks) return undefined;
  const named: Named[] = observers.map((o) => ({ ...o, pending: 0, dropped: 0 }));
  const log = logger.child({ component: 'observers' });

  // Finished requests are handed to the observers in batches: one setImmediate per turn, not one per request.
  let queue: FinishedRequest[] = [];
  const dispatch = () => {
    const batch = queue;
    queue = [];
    for (const request of batch) for (const o of named) notify(o, request, log);
  };

  // Made once: every watched response shares them and finds its counts in its WATCH slot.
  const closed = function (this: WatchedResponse) {
    const w = this[WATCH]!;
    this[WATCH] = undefined;
    const request = observation.build(w.ctx, w.startedAt, w.bytesIn, w.bytesOut, !this.writableFinished);
    hooks?.finished(request);
    if (named.length && queue.push(request) === 1) setImmediate(dispatch);
  };

  return function watch(ctx, startedAt) {
    hooks?.started();
    const { req } = ctx;
    const res = ctx.res as WatchedResponse;
    const declared = req.headers['content-length'] === undefined ? NaN : Number(req.headers['content-length']);
    const w: Watch = { ctx, startedAt, bytesIn: Number.isFinite(declared) ? declared : 0, bytesOut: 0 };
    if (!Number.isFinite(declared) && req.headers['transfer-encoding'] !== undefined) {
      // A chunked body: count what the body parser reads, without touching the stream's flow.
      const emit = req.emit;
      // Anonymous functions: a named closure costs an Object.defineProperty per request under tsx (keepNames).
      req.emit = function (this: typeof req, event: string | symbol, ...args: unknown[]) {
        if (event === 'data') w.bytesIn += byteLength(args[0]);
        return (emit as (...a: unknown[]) => boolean).call(this, event, ...args);
      } as typeof req.emit;
    }
    res[WATCH] = w;
    if (!Object.hasOwn(res, 'write') && !Object.hasOwn(res, 'end')) {
      res.write = countedWrite as typeof res.write;
      res.end = countedEnd as typeof res.end;
    } else {
      // Someone wrapped this response already (instrumentation): wrap their functions.
      const write = res.write;
      const end = res.end;
      res.write = function (this: typeof res, chunk: unknown, ...rest: unknown[]) {
        w.bytesOut += byteLength(chunk);
        return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
      } as typeof res.write;
      res.end = function (this: typeof res, chunk?: unknown, ...rest: unknown[]) {
        if (typeof chunk !== 'function') w.bytesOut += byteLength(chunk);
        return (end as (...args: unknown[]) => typeof res).call(this, chunk, ...rest);
      } as typeof res.end;
    }
    res.on('close', closed); // a response closes once; `on` makes no once-wrapper
  };
}

/** A watched request's counts, kept on its response (no closures per request). */
interface Watch { ctx: Context; startedAt: number; bytesIn: number; bytesOut: number }
const WATCH = Symbol('kernel.requestWatch');
type WatchedResponse = ServerResponse & { [WATCH]?: Watch };

const protoWrite = ServerResponse.prototype.write;
const protoEnd = ServerResponse.prototype.end;

/** `res.write` of a watched response: counts the chunk, then writes as the prototype does. */
function countedWrite(this: WatchedResponse, chunk: unknown): boolean {
  const w = this[WATCH];
  if (w) w.bytesOut += byteLength(chunk);
  // eslint-disable-next-line prefer-rest-params -- forwards the call exactly as made
  return (protoWrite as (...a: unknown[]) => boolean).apply(this, arguments as unknown as unknown[]);
}

function countedEnd(this: WatchedResponse, chunk?: unknown): WatchedResponse {
  const w = this[WATCH];
  if (w && typeof chunk !== 'function') w.bytesOut += byteLength(chunk);
  // eslint-disable-next-line prefer-rest-params -- forwards the call exactly as made
  return (protoEnd as (...a: unknown[]) => WatchedResponse).apply(this, arguments as unknown as unknown[]);
}

function notify(o: Named, request: FinishedRequest, log: Logger) {
  if (o.pending >= MAX_PENDING) {
    if (o.dropped++ % MAX_PENDING === 0) {
      log.warn({ observer: o.name, dropped: o.dropped }, 'observer is not keeping up: dropping requests');
    }
    return;
  }
  const began = performance.now();
  let result: void | Promise<void>;
  try {
    result = o.observe(request);
  } catch (err) {
    log.warn({ err, observer: o.name, requestId: request.requestId }, 'observer threw');
    return;
  }
  const blocked = performance.now() - began;
  if (blocked > SLOW_SYNC_MS) {
    log.warn({ observer: o.name, ms: Math.round(blocked) }, 'observer is slow (blocked the event loop)');
  }
  if (!result || typeof (result as Promise<void>).then !== 'function') return;
  o.pending++;
  (result as Promise<void>).then(
    () => {
      o.pending--;
      const ms = performance.now() - began;
      if (ms > SLOW_ASYNC_MS) log.warn({ observer: o.name, ms: Math.round(ms) }, 'observer is slow');
    },
    (err) => {
      o.pending--;
      log.warn({ err, observer: o.name, requestId: request.requestId }, 'observer failed');
    },
  );
}

function byteLength(chunk: unknown): number {
  if (chunk === undefined || chunk === null) return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk);
  if (ArrayBuffer.isView(chunk)) return chunk.byteLength;
  return 0;
}

/** Every enabled plugin's observers, made from the plugin's container, named `<plugin>.<observer>`. */
export function pluginObservers(
  plugins: Array<{ name: string; observers?: RequestObserverDefinition[] }>,
  cradleOf: (plugin: string) => Record<string, unknown>,
): Array<{ name: string; observe: RequestObserver }> {
  return plugins.flatMap((p) => (p.observers ?? []).map((o) => ({
    name: `${p.name}.${o.name}`,
    observe: o.create(cradleOf(p.name)),
  })));
}
