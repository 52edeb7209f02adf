import type { Kernel } from './boot.ts';
import { flushLogs } from './logging.ts';

/**
 * SIGTERM/SIGINT: stop accepting, drain in-flight requests and deferred work within
 * server.shutdownTimeoutMs, close adapters in reverse order, then exit 0 (1 if the shutdown
 * itself failed). A repeated signal does not cut the drain short: Ctrl-C under `npm start`
 * reaches the server twice (from the terminal and forwarded by npm).
 */
export function exitOnSignals(kernel: Kernel, exit: (code: number) => void = (code) => process.exit(code)): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) { kernel.logger.info({ signal }, 'already shutting down'); return; }
    stopping = true;
    kernel.logger.info({ signal }, 'shutting down');
    kernel.stop().then(
      () => { kernel.logger.info('stopped'); void flushLogs(kernel.logger).then(() => exit(0)); },
      (err) => { kernel.logger.error({ err }, 'shutdown failed'); void flushLogs(kernel.logger).then(() => exit(1)); },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
