/** The kernel's logger: pino JSON lines with the secret paths redacted. */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { KernelConfig } from './config/schema.ts';
import { logSerializers } from './logSafety.ts';
import { bufferedDestination, markKernelLogger } from './logging.ts';

/**
 * Explicit paths only: pino's wildcard redaction doubles the cost of every log line. Request
 * bodies are never logged; these cover the objects that are (headers, errors, config).
 */
const SECRET_PATHS = [
  'headers.authorization', 'headers.cookie', 'headers["x-api-key"]', 'password', 'token', 'secret', 'apiKey',
  'refreshToken', 'accessToken', 'config.password',
];

/** JSON lines to `destination` (stdout by default), buffered (kernel/logging.ts) unless a stream is given. */
export function createLogger(config: KernelConfig, destination: DestinationStream | number | string = 1): Logger {
  const options = {
    name: config.name, level: config.log.level,
    redact: { paths: SECRET_PATHS, censor: '[redacted]' }, serializers: logSerializers(config.log.level),
  };
  const stream = typeof destination === 'object' ? destination : bufferedDestination(destination);
  return markKernelLogger(pino(options, stream));
}
