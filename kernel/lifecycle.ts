import type { Kernel } from './boot.ts';
import { flushLogs } from './logging.ts';

/**
 * SIGTERM/SIGINT: stop accepting, drain in-flight requests within server.shutdownTimeoutMs,
 * close adapters in reverse order, then exit 0 (1 if the shutdown itself failed).
 */
export function exitOnSignals(kernel: Kernel, exit: (code: number) => void = (code) => process.exit(code)): void {
  const shutdown = (signal: NodeJS.Signals) => {
    kernel.logger.info({ signal }, 'shutting down');
    kernel.stop().then(
      () => { kernel.logger.info('stopped'); void flushLogs(kernel.logger).then(() => exit(0)); },
      (err) => { kernel.logger.error({ err }, 'shutdown failed'); void flushLogs(kernel.logger).then(() => exit(1)); },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
