/** Anthropic's Messages API: chat, streaming (`event:` lines, cumulative usage in `message_delta`), structured. */
import type { AdapterContext } from '../../kernel/ports/adapter.ts';
import {
  AiError, type AiProvider, type CallOptions, type ChatMessage, type ChatRequest,
} from '../../kernel/ports/aiProvider.ts';
import { openStream, send, statusError } from './shared/http.ts';
import { buildProvider } from './shared/provider.ts';
import { sseChat, type StreamStep } from './shared/streamLoop.ts';
import { schemaInstruction, structuredWithRepair } from './shared/structured.ts';
import { heuristicTokens, messagesTokens } from './shared/tokens.ts';
import { baseOf, finishOf, keyFor, vendorHttp, type VendorDeps, type VendorOptions } from './shared/vendor.ts';

export interface AnthropicProviderOptions extends VendorOptions {
  /** `anthropic-version` header. */
  version?: string;
  /** Anthropic requires `max_tokens`; used when a request gives none. */
  defaultMaxTokens?: number;
}

interface Message {
  id?: string;
  model?: string;
  content?: Array<{ type: string; text?: string }>;
  stop_reason?: string | null;
  usage?: { input_tokens?: number; output_tokens?: number; cache_creation_input_tokens?: number;
    cache_read_input_tokens?: number };
}

/** Cached input is billed input: it counts. */
const inputOf = (u: Message['usage']) => u?.input_tokens === undefined ? undefined
  : u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);

export async function createAnthropicProvider(
  options: AnthropicProviderOptions, ctx: AdapterContext, deps: VendorDeps = {},
): Promise<AiProvider> {
  const name = options.name ?? 'anthropic';
  const base = baseOf(options.baseUrl ?? 'https://api.anthropic.com');
  const http = vendorHttp(name, options, ctx, deps);
  const headers = (o: CallOptions): Record<string, string> => ({
    'content-type': 'application/json',
    'x-api-key': keyFor(name, options.apiKey, o)!,
    'anthropic-version': options.version ?? '2023-06-01',
    ...options.headers,
  });
  const body = (req: ChatRequest, messages: ChatMessage[] = req.messages) => {
    const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const turns = messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role, content: m.content }));
    if (!turns.length) throw new AiError('bad_request', name, 'Anthropic needs at least one user message');
    return {
      model: req.model,
      max_tokens: req.maxTokens ?? options.defaultMaxTokens ?? 1024,
      messages: turns,
      ...(system ? { system } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      ...(req.topP !== undefined ? { top_p: req.topP } : {}),
      ...(req.stop?.length ? { stop_sequences: req.stop } : {}),
      ...(req.user ? { metadata: { user_id: req.user } } : {}),
    };
  };

  async function complete(req: ChatRequest, o: CallOptions, messages?: ChatMessage[]) {
    const res = await send(http, { url: `${base}/v1/messages`, headers: headers(o), json: body(req, messages) }, o);
    const data = res.json<Message>();
    const text = (data.content ?? []).filter((c) => c.type === 'text').map((c) => c.text ?? '').join('');
    const input = inputOf(data.usage);
    const output = data.usage?.output_tokens;
    return {
      text,
      finishReason: finishOf(data.stop_reason),
      usage: {
        inputTokens: input ?? messagesTokens(messages ?? req.messages, heuristicTokens),
        outputTokens: output ?? heuristicTokens(text),
        estimated: input === undefined || output === undefined,
      },
      model: data.model ?? req.model,
      ...(data.id ? { id: data.id } : {}),
    };
  }

  function parseEvent(event: string, data: string): StreamStep | undefined {
    switch (event) {
      case 'message_start': {
        const m = (JSON.parse(data) as { message: Message }).message;
        return { id: m.id, model: m.model, inputTokens: inputOf(m.usage), outputTokens: m.usage?.output_tokens };
      }
      case 'content_block_delta': {
        const d = (JSON.parse(data) as { delta?: { type?: string; text?: string } }).delta;
        return d?.type === 'text_delta' ? { delta: d.text } : undefined;
      }
      case 'message_delta': {
        // The usage here is cumulative: it replaces, never adds to, what message_start said.
        const m = JSON.parse(data) as { delta?: { stop_reason?: string | null }; usage?: Message['usage'] };
        return {
          finish: m.delta?.stop_reason ? finishOf(m.delta.stop_reason) : undefined,
          outputTokens: m.usage?.output_tokens,
          inputTokens: inputOf(m.usage),
        };
      }
      case 'message_stop':
        return { end: true };
      case 'error': {
        const e = (JSON.parse(data) as { error?: { type?: string; message?: string } }).error;
        const status = e?.type === 'overloaded_error' ? 529 : e?.type === 'rate_limit_error' ? 429 : 500;
        return { error: statusError(http, status, {}, data) };
      }
      default:
        return undefined; // ping, content_block_start, content_block_stop
    }
  }

  return buildProvider({
    name,
    adapter: 'anthropic',
    // Claude's tokenizer is not public: a heuristic until the vendor reports usage.
    countTokens: heuristicTokens,
    chat: (req, o = {}) => complete(req, o),
    stream(req, o = {}) {
      return (async function* () {
        const open = await openStream(http, {
          url: `${base}/v1/messages`, headers: { ...headers(o), accept: 'text/event-stream' },
          json: { ...body(req), stream: true },
        }, o);
        yield* sseChat(open, {
          parse: (ev) => parseEvent(ev.event, ev.data),
          endMarker: true,
          estimateInput: () => messagesTokens(req.messages, heuristicTokens),
          estimateOutput: heuristicTokens,
          model: req.model,
        });
      })();
    },
    structured(req, o = {}) {
      return structuredWithRepair(name, (r, messages, opts) =>
        complete(r, opts, [{ role: 'system', content: schemaInstruction(r.schema) }, ...messages]), req, o);
    },
  });
}
