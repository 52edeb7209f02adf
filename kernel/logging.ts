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
