import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * One event reaches every socket of its channel: its WebSocket frame is built once (a final, unmasked
 * text frame, as a server sends it, RFC 6455 §5.2) and the same bytes are written to each socket. `ws`
 * would encode the string and build a header per socket (and write the two with a corked writev).
 */
export function textFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const n = body.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81; // FIN + text
  if (n < 126) {
    frame[1] = n;
  } else if (n < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  body.copy(frame, head);
  return frame;
}

/** `ws` internals this relies on (ws 8): the socket, and the sender's state (0: nothing queued). */
interface WsInternals { _socket?: Socket | null; _sender?: { _state?: number } | null }

/**
 * Writes a prebuilt frame. Straight to the TCP socket when `ws` has nothing queued (no compression is
 * configured, so its sender writes synchronously and order is kept); else through `ws.send(text)`.
 */
export function sendFrame(ws: WebSocket, frame: Buffer, text: string): void {
  const raw = ws as unknown as WsInternals;
  if (raw._socket && raw._sender?._state === 0 && !raw._socket.destroyed) raw._socket.write(frame);
  else ws.send(text);
}
