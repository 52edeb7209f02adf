import pino, { type DestinationStream, type Logger } from 'pino';

/** Bytes buffered before a write: one `write(2)` carries many request lines instead of one each. */
export const LOG_BUFFER_BYTES = 4096;
/** A quiet server still writes what it buffered within this long. */
export const LOG_FLUSH_INTERVAL_MS = 250;

/**
 * pino's sonic-boom destination, buffered (`minLength`) and asynchronous, with a timer that
 * flushes a partly filled buffer. `flushLogs` must run before the process exits (the kernel's
 * stop and the signal handler do), else the buffered tail is lost.
 */
export function bufferedDestination(dest: number | string = 1): DestinationStream {
  const stream = pino.destination({ dest, minLength: LOG_BUFFER_BYTES, sync: false, mkdir: typeof dest === 'string' });
  const timer = setInterval(() => {
    try { (stream as DestinationStream & { flush(): void }).flush(); } catch { /* closed */ }
  }, LOG_FLUSH_INTERVAL_MS);
  timer.unref();
  stream.on('close', () => clearInterval(timer));
  return stream;
}

/** Writes every buffered line; resolves once written (or after `timeoutMs`, so a stuck pipe cannot hold a shutdown). */
export function flushLogs(logger: Logger, timeoutMs = 2000): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => { clearTimeout(timer); resolve(); };
    try {
      // The callback's error (fsync is refused on a pipe or a tty) does not matter: the bytes are written.
      logger.flush(done);
    } catch {
      done();
    }
  });
}

/** One request line: `logger.info({ requestId, method, route, status, ms }, 'request')`, written for less. */
export type RequestLine = (requestId: string, method: string, route: string, status: number, ms: number) => void;

const { lsCacheSym, timeSym, chindingsSym, streamSym, endSym, needsMetadataGsym } = pino.symbols;
const ownLoggers = new WeakSet<Logger>();

/** Marks a logger made by createLogger (no mixin, formatters, hooks or nested key): see requestLineWriter. */
export function markKernelLogger(logger: Logger): Logger {
  ownLoggers.add(logger);
  return logger;
}

/**
 * The request line's writer. For the kernel's own logger it builds the line pino would (the same
 * level prefix, time, bindings, key order and escaping: test/kernel/requestLine.test.ts) without
 * pino's generic per-key serialisation and redaction pass: none of these five keys is redacted or
 * serialised, and the strings are a validated request id, an HTTP method, an operationId or a path.
 * Any other logger (a test's, a deployment's) gets the plain `logger.info` call.
 */
export function requestLineWriter(logger: Logger): RequestLine {
  const l = logger as unknown as Record<symbol, unknown>;
  const stream = l[streamSym] as { write(line: string): unknown; [k: symbol]: unknown } | undefined;
  if (!ownLoggers.has(logger) || !stream || stream[needsMetadataGsym]) {
    return (requestId, method, route, status, ms) => {
      logger.info({ requestId, method, route, status, ms }, 'request');
    };
  }
  const prefix = (l[lsCacheSym] as Record<number, string>)[30];
  const time = l[timeSym] as () => string;
  return (requestId, method, route, status, ms) => {
    if (!logger.isLevelEnabled('info')) return;
    stream.write(prefix + time() + (l[chindingsSym] as string) + ',"requestId":' + JSON.stringify(requestId)
      + ',"method":' + JSON.stringify(method) + ',"route":' + JSON.stringify(route) + ',"status":' + status
      + ',"ms":' + ms + ',"msg":"request"' + (l[endSym] as string));
  };
}
