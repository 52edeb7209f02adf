import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ToolServer {
  url: string;
  seen: Array<{ path: string; headers: IncomingMessage['headers']; body: string }>;
  /** Resolves when a call to /gate has arrived (it is held until `release()`). */
  gateReached(): Promise<void>;
  /** Answers the held /gate calls. */
  release(): void;
  close(): Promise<void>;
}

/** A tool endpoint on loopback: /echo reports tokens, /plain does not, /fail is a 500, /hang never answers. */
export async function startToolServer(): Promise<ToolServer> {
  const seen: ToolServer['seen'] = [];
  const hanging = new Set<import('node:http').ServerResponse>();
  const gated: Array<() => void> = [];
  let reached: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      seen.push({ path, headers: req.headers, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      };
      if (path === '/echo') return json(200, { result: JSON.parse(body || '{}').input, usage: { total_tokens: 42 } });
      if (path === '/tokens') {
        const n = Number(new URL(req.url ?? '', 'http://x').searchParams.get('n'));
        return json(200, { result: 'counted', usage: { total_tokens: n } });
      }
      if (path === '/plain') return json(200, { answer: 'the quick brown fox jumps over the lazy dog' });
      if (path === '/fail') return json(500, { error: 'boom' });
      if (path === '/reject') return json(422, { error: 'bad input' });
      if (path === '/notjson') return res.writeHead(200, { 'content-type': 'text/plain' }).end('<html>');
      if (path === '/hang') return void hanging.add(res);
      if (path === '/gate') {
        gated.push(() => json(200, { result: 'late', usage: { total_tokens: 7 } }));
        for (const r of reached) r();
        reached = [];
        return;
      }
      json(404, { error: 'no such tool' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    gateReached: () => new Promise<void>((r) => { reached.push(r); }),
    release: () => { for (const answer of gated.splice(0)) answer(); },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
