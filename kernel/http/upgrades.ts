/**
 * HTTP upgrades (WebSocket) on the wire path of a plugin's operation: the plugin's `upgrades`
 * hook, keyed by operationId, gets the raw request and socket plus the operation's own
 * authentication (its contract `security`, the same schemes as a request). Any other upgrade
 * is refused with the one error format.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import type { Authenticator, UpgradeHandler } from '../plugin.ts';
import type { OperationEntry } from './contracts.ts';
import { compileGuard, operationSecurity, type SecurityRequirement } from './security.ts';
import { takeDeferredCheck } from './deferredChecks.ts';
import { errorBody, type ErrorDialect } from './errorFormat.ts';
import type { IdGenerator } from '../ports/ids.ts';

export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface BoundUpgrade { entry: OperationEntry; handler: UpgradeHandler }

const escape = (s: string) => s.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
const pathPattern = (template: string) =>
  new RegExp(`^${template.split(/\{[^}]+\}/).map(escape).join('[^/]+')}$`);

/** Writes an HTTP error in the deployment's format on a socket not yet upgraded, then closes it. */
export function refuseUpgrade(socket: Duplex, error: AppError, dialect: ErrorDialect, requestId: string): void {
  if (!socket.writable) { socket.destroy(); return; }
  const body = JSON.stringify(errorBody(dialect, error, requestId));
  const extra = Object.entries(error.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n${extra}Connection: close\r\n\r\n`
    + body);
}

export function upgradeRouter(bound: BoundUpgrade[], options: {
  schemes: Map<string, Authenticator>;
  documentSecurity?: SecurityRequirement[];
  dialect: ErrorDialect;
  logger: Logger;
  ids: IdGenerator;
  trustProxy: boolean;
}): UpgradeListener {
  const routes = bound.map(({ entry, handler }) => ({
    match: pathPattern(entry.path),
    handler,
    guard: compileGuard(operationSecurity(entry, options.documentSecurity), options.schemes, entry.operationId),
  }));
  return (req, socket, head) => {
    const requestId = options.ids.next();
    const refuse = (error: AppError) => refuseUpgrade(socket, error, options.dialect, requestId);
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?')[0];
    const route = req.method === 'GET' ? routes.find((r) => r.match.test(path)) : undefined;
    if (!route) {
      refuse(new AppError(404, 'NOT_FOUND', 'No WebSocket endpoint here'));
      return;
    }
    const forwarded = options.trustProxy ? String(req.headers['x-forwarded-for'] ?? '').split(',')[0].trim() : '';
    const ip = forwarded || req.socket.remoteAddress || '';
    const authenticate = async (headers = req.headers) => {
      if (!route.guard) return undefined;
      const principal = await route.guard({ headers, ip });
      await takeDeferredCheck(principal);
      return principal;
    };
    Promise.resolve()
      .then(() => route.handler({ req, socket, head, ip, requestId, authenticate, refuse }))
      .catch((err) => {
        if (err instanceof AppError) { refuse(err); return; }
        options.logger.error({ err, requestId }, 'upgrade failed');
        refuse(new AppError(500, 'INTERNAL_ERROR', 'An unexpected error occurred'));
      });
  };
}
