/**
 * A mock OpenAI-shaped upstream on loopback for the gateway's tests: chat completions (unstreamed, and streamed with
 * a role chunk, content chunks, the finish chunk, the usage chunk with `choices: []` and `[DONE]`), embeddings and
 * image generations. Every request is recorded in `seen`. A streamed prompt 'cut me off' is cut after one chunk.
 */
import { createServer, type Server } from 'node:http';

export interface SeenRequest { auth: string; url: string; body: Record<string, any> }

export const PNG_1X1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw'
  + 'AAAABJRU5ErkJggg==', 'base64');

/** `completionTokens` says how many output tokens a request reports (3 unless told). */
export function mockOpenAiUpstream(seen: SeenRequest[], o: { completionTokens?: (body: any) => number } = {}): Server {
  return createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}');
      seen.push({ auth: String(req.headers.authorization), url: String(req.url), body });
      const json = (value: unknown) => res.writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(value));
      if (req.url?.endsWith('/images/generations')) {
        const image = { b64_json: PNG_1X1.toString('base64') };
        json({ created: 1, data: Array.from({ length: body.n ?? 1 }, () => image) });
        return;
      }
      if (req.url?.endsWith('/embeddings')) {
        json({ object: 'list', model: body.model, data: body.input.map((_: string, i: number) => ({ object: 'embedding',
          index: i, embedding: [0.25, -0.5, 1] })), usage: { prompt_tokens: 4, total_tokens: 4 } });
        return;
      }
      const base = { id: 'chatcmpl-up', created: 1_700_000_000, model: body.model };
      const out = o.completionTokens?.(body) ?? 3;
      const usage = { prompt_tokens: 11, completion_tokens: out, total_tokens: 11 + out };
      if (!body.stream) {
        json({ ...base, object: 'chat.completion', usage, choices: [{ index: 0, message: { role: 'assistant',
          content: 'Hello from upstream' }, finish_reason: 'stop' }] });
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (choices: unknown[], extra = {}) =>
        `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
      res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
      if (body.messages?.[0]?.content === 'cut me off') {
        res.write(chunk([{ index: 0, delta: { content: 'Hello' }, finish_reason: null }]));
        setTimeout(() => res.destroy(), 5);
        return;
      }
      for (const w of ['Hello', ' from', ' upstream']) {
        res.write(chunk([{ index: 0, delta: { content: w }, finish_reason: null }]));
      }
      res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      res.write(chunk([], { usage }));
      res.end('data: [DONE]\n\n');
    });
  });
}
