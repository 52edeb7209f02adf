/** The HTTP server: limits, request tracking for the drain, and the one error format for parser-rejected requests. */
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Kernel } from '../boot.ts';
import { uuidV7Ids } from '../ports/ids.ts';
import { applyConnectionLimit, serverOptions } from '../http/serverLimits.ts';
import { errorBody, errorDialect } from '../http/errorFormat.ts';
import { AppError } from '../errors.ts';
import { refuseUpgrade } from '../http/upgrades.ts';

/** Client errors the parser rejects (huge headers, bad requests) still get the one error format. */
export function createHttpServer(kernel: Kernel): Server {
  const handle = kernel.app.callback();
  const inflight = kernel.inflight;
  const ended = () => inflight.end('requests');
  // Counted to the end of the middleware chain (a handler may outlive its connection): a counter,
  // not a tracked promise, so a request costs no Map entry and no closures.
  const server = createServer(
    { maxHeaderSize: 16384, ...serverOptions(kernel.config.server) },
    (req, res) => {
      inflight.begin('requests');
      handle(req, res).then(ended, ended);
    },
  );
  applyConnectionLimit(server, kernel.config.server);
  server.on('upgrade', (req, socket, head) => {
    if (kernel.upgrade) kernel.upgrade(req, socket, head);
    else {
      const error = new AppError(404, 'NOT_FOUND', 'No WebSocket endpoint here');
      refuseUpgrade(socket, error, errorDialect(kernel.config), uuidV7Ids.next());
    }
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return; }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const code = status === 431 ? 'HEADERS_TOO_LARGE' : status === 408 ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
    const message = status === 431 ? 'The request line or headers are too large' : 'The request could not be parsed';
    const body = JSON.stringify(errorBody(errorDialect(kernel.config), { code, message }, uuidV7Ids.next()));
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  return server;
}
