/**
 * `POST /v1/chat/completions` over the ai plugin's gateway. Not streamed: one `chat.completion`. Streamed: the
 * gateway's first event is awaited before any byte is sent, so a refusal (402, 403, 400, 503 before output) is
 * still an HTTP error the SDK raises as its own type; after that, chunks are written as they come, never buffered,
 * and the stream always ends with the finish chunk (and the usage chunk when asked) or an error event, then
 * `[DONE]`. A client that leaves aborts the upstream call; the gateway bills what was used.
 */
import { PassThrough } from 'node:stream';
import type { Context as KoaContext } from 'koa';
import { AppError, rawReply, type Principal, type Reply } from '../../kernel/index.ts';
import type { AiGateway, GatewayChatCall, GatewayStreamEvent } from './gatewayShape.ts';
import { ChunkWriter, completionBody, type CompletionRequest } from './openaiWire.ts';
import { OpenAiError } from './openaiErrors.ts';

export interface CompletionDeps {
  gateway: AiGateway;
  principal: Principal;
  koa: KoaContext;
  id: string;
  created: number;
  userKey?: { provider: string; apiKey: string };
}

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

function callOf(r: CompletionRequest, d: CompletionDeps, signal?: AbortSignal): GatewayChatCall {
  // The client's Idempotency-Key is not the hold's: a key reused for another request would get the earlier (already
  // captured) hold back. Each completion holds under its own id.
  return {
    principal: d.principal, model: r.model, messages: r.messages, maxTokens: r.maxTokens,
    temperature: r.temperature, topP: r.topP, stop: r.stop, signal,
    reference: { kind: 'openai.chat.completion', id: d.id }, idempotencyKey: d.id,
    ...(d.userKey ? { userKey: d.userKey } : {}),
  };
}

export async function complete(r: CompletionRequest, d: CompletionDeps): Promise<Reply<Record<string, unknown>>> {
  if (!r.stream) {
    const abort = new AbortController();
    const onClose = () => { if (!d.koa.res.writableEnded) abort.abort(); };
    d.koa.req.once('close', onClose);
    try {
      const result = await d.gateway.chat(callOf(r, d, abort.signal));
      return rawReply(200, completionBody({ ...result, id: d.id }, d.created), result.headers);
    } finally {
      d.koa.req.off('close', onClose);
    }
  }
  return stream(r, d);
}

async function stream(r: CompletionRequest, d: CompletionDeps): Promise<Reply<Record<string, unknown>>> {
  const abort = new AbortController();
  // Headers and the role chunk go out as soon as the gateway says every pre-call check passed (`onReady`), not at
  // the first token; a refusal before that rejects the first `next()` and is answered as an HTTP error.
  let ready!: () => void;
  const isReady = new Promise<'ready'>((resolve) => { ready = () => resolve('ready'); });
  const events = d.gateway.stream({ ...callOf(r, d, abort.signal), onReady: () => ready() })[Symbol.asyncIterator]();
  const firstNext = events.next();
  const winner = await Promise.race([isReady, firstNext]);
  if (winner !== 'ready') {
    if (winner.done) throw new OpenAiError(502, 'The upstream stream ended without an answer.', null, 'empty_stream');
    const e = winner.value;
    if (e.type === 'error' && !e.partial) throw new OpenAiError(e.status, e.message, null, e.code.toLowerCase());
  }
  const out = new PassThrough();
  const koa = d.koa;
  koa.compress = false;
  koa.req.socket.setNoDelay(true);
  koa.req.socket.setTimeout(0);
  const onClose = () => abort.abort();
  koa.req.once('close', onClose);
  const writer = new ChunkWriter(d.id, r.model, d.created, r.includeUsage);
  out.write(writer.role());
  void pump(firstNext, events, writer, out).finally(() => {
    koa.req.off('close', onClose);
    out.end();
  });
  return rawReply(200, out as never, SSE_HEADERS);
}

async function pump(first: Promise<IteratorResult<GatewayStreamEvent>>, rest: AsyncIterator<GatewayStreamEvent>,
  writer: ChunkWriter, out: PassThrough): Promise<void> {
  let event: GatewayStreamEvent | undefined;
  try {
    const head = await first;
    event = head.done ? undefined : head.value;
    while (event) {
      if (event.type === 'chunk') {
        if (event.text) out.write(writer.delta(event.text));
      } else if (event.type === 'done') {
        out.write(writer.end(event.result));
        return;
      } else if (event.type === 'error') {
        out.write(writer.error(event));
        return;
      }
      const next = await rest.next();
      event = next.done ? undefined : next.value;
    }
    out.write(writer.error({ code: 'STREAM_ENDED', message: 'The stream ended without a final event.', status: 502 }));
  } catch (e) {
    // The gateway promises a final event; should it throw instead, the client still gets an end.
    const known = e instanceof AppError;
    out.write(writer.error({
      code: known ? e.code : 'INTERNAL', status: known ? e.status : 500,
      message: known ? e.message : 'The stream failed.',
    }));
  } finally {
    if (event?.type !== 'done' && event?.type !== 'error') await rest.return?.();
  }
}
