/**
 * OpenAI's Chat Completions and Embeddings wire shapes, both ways: the request read and checked field by field
 * (a bad one is a 400 naming its `param`), the answers written exactly as OpenAI writes them.
 */
import type { ChatMessage, FinishReason } from '../../kernel/index.ts';
import type { GatewayChatResult, GatewayUsage } from './gatewayShape.ts';
import { invalid } from './openaiErrors.ts';

export interface CompletionRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string[];
  stream: boolean;
  includeUsage: boolean;
  credentialId?: string;
}

type Body = Record<string, unknown>;
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const ROLES: Record<string, ChatMessage['role']> = {
  system: 'system', developer: 'system', user: 'user', assistant: 'assistant',
};
/** Fields OpenAI accepts that change nothing here (or are advisory): taken and ignored. */
const IGNORED = new Set([
  'user', 'seed', 'logprobs', 'top_logprobs', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'metadata',
  'store', 'service_tier', 'parallel_tool_calls', 'prediction', 'reasoning_effort', 'modalities', 'safety_identifier',
  'prompt_cache_key', 'verbosity',
]);
const KNOWN = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'stream',
  'stream_options', 'n', 'credential_id', 'response_format', 'tool_choice', 'tools', ...IGNORED,
]);

function number(body: Body, name: string, min: number, max: number, integer = false): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalid(name, `Invalid '${name}': expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`);
  }
  return v;
}

function contentOf(v: unknown, i: number): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) {
    return v.map((part, j) => {
      if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text;
      throw invalid(`messages[${i}].content[${j}]`, 'Only text content parts are supported here.',
        'unsupported_content');
    }).join('');
  }
  throw invalid(`messages[${i}].content`, `Invalid 'messages[${i}].content': expected a string or an array of parts.`);
}

function messagesOf(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || !v.length) throw invalid('messages', "'messages' must be a non-empty array.");
  return v.map((m, i) => {
    if (!isObject(m)) throw invalid(`messages[${i}]`, `Invalid 'messages[${i}]': expected an object.`);
    const role = typeof m.role === 'string' ? ROLES[m.role] : undefined;
    if (!role) {
      throw invalid(`messages[${i}].role`, `Invalid 'messages[${i}].role': one of system, developer, user, `
        + 'assistant (tool messages are not supported).');
    }
    return { role, content: contentOf(m.content, i) };
  });
}

function stopOf(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === 'string' && s.length)) {
    throw invalid('stop', "Invalid 'stop': a string or up to 4 strings.");
  }
  return list as string[];
}

export function readCompletionRequest(body: unknown): CompletionRequest {
  if (!isObject(body)) throw invalid('body', 'The body must be a JSON object.', 'invalid_json');
  for (const key of Object.keys(body)) {
    if (!KNOWN.has(key)) throw invalid(key, `Unrecognized request argument supplied: ${key}`, 'unknown_parameter');
  }
  if (typeof body.model !== 'string' || !body.model) throw invalid('model', "'model' is required.", 'missing_model');
  if (body.tools !== undefined || body.tool_choice !== undefined) {
    throw invalid('tools', 'Tool calls are not supported by this gateway.', 'unsupported_parameter');
  }
  const format = body.response_format;
  if (format !== undefined && !(isObject(format) && format.type === 'text')) {
    throw invalid('response_format', "Only response_format {type: 'text'} is supported here; use an "
      + "'ai.generate' job with kind 'structured' for JSON output.", 'unsupported_parameter');
  }
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw invalid('n', "Only 'n': 1 is supported.");
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw invalid('stream', "Invalid 'stream': expected a boolean.");
  }
  const options = body.stream_options;
  if (options !== undefined && options !== null && !isObject(options)) {
    throw invalid('stream_options', "Invalid 'stream_options': expected an object.");
  }
  const credentialId = body.credential_id;
  if (credentialId !== undefined && typeof credentialId !== 'string') {
    throw invalid('credential_id', "Invalid 'credential_id': expected a string.");
  }
  const maxTokens = number(body, 'max_completion_tokens', 1, 1_000_000, true) ?? number(body, 'max_tokens', 1,
    1_000_000, true);
  return {
    model: body.model,
    messages: messagesOf(body.messages),
    maxTokens,
    temperature: number(body, 'temperature', 0, 2),
    topP: number(body, 'top_p', 0, 1),
    stop: stopOf(body.stop),
    stream: body.stream === true,
    includeUsage: isObject(options) && options.include_usage === true,
    credentialId: credentialId || undefined,
  };
}

export interface EmbeddingsRequest { model?: string; input: string[]; base64: boolean; credentialId?: string }

export function readEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (!isObject(body)) throw invalid('body', 'The body must be a JSON object.', 'invalid_json');
  const raw = body.input;
  const input = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(input) || !input.length || input.length > 2048 || !input.every((s) => typeof s === 'string')) {
    throw invalid('input', "Invalid 'input': a string or an array of 1 to 2048 strings (token arrays are not "
      + 'supported).');
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    throw invalid('encoding_format', "Invalid 'encoding_format': 'float' or 'base64'.");
  }
  if (typeof body.model !== 'string' || !body.model) throw invalid('model', "'model' is required.", 'missing_model');
  const credentialId = typeof body.credential_id === 'string' ? body.credential_id : undefined;
  return { model: body.model, input: input as string[], base64: format === 'base64', credentialId };
}

/** OpenAI's finish reasons; ours are the same words. */
const finish = (f: FinishReason): string => (f === 'error' ? 'stop' : f);

export interface WireUsage {
  prompt_tokens: number; completion_tokens: number; total_tokens: number;
  /** Extensions: the exact cost charged, in cents (rounded up) and microcents. */
  cost_cents: number; cost_micros: number;
}

export const wireUsage = (u: GatewayUsage): WireUsage => ({
  prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens,
  cost_cents: u.costCents, cost_micros: u.costMicros,
});

export const completionId = (id: string) => (id.startsWith('chatcmpl-') ? id : `chatcmpl-${id}`);

export function completionBody(r: GatewayChatResult, created: number) {
  return {
    id: completionId(r.id),
    object: 'chat.completion' as const,
    created,
    model: r.model,
    system_fingerprint: null,
    choices: [{
      index: 0,
      message: { role: 'assistant' as const, content: r.text, refusal: null },
      logprobs: null,
      finish_reason: finish(r.finishReason),
    }],
    usage: wireUsage(r.usage),
  };
}

/** Writes `chat.completion.chunk`s for one completion, in the order and shape OpenAI streams them. */
export class ChunkWriter {
  private deltaFrame?: [string, string];

  constructor(
    private readonly id: string,
    private model: string,
    private readonly created: number,
    private readonly includeUsage: boolean,
  ) {}

  private frame(choices: unknown[], usage?: WireUsage | null): string {
    const chunk: Record<string, unknown> = {
      id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model,
      system_fingerprint: null, choices,
    };
    if (this.includeUsage) chunk.usage = usage ?? null;
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }

  /** The first chunk: the role, empty content. */
  role(): string {
    return this.frame([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
  }

  /** A content chunk: the frame around the text serialised once per stream (the model changes only at the end). */
  delta(text: string): string {
    if (!this.deltaFrame) {
      const mark = JSON.stringify('\u0000delta');
      const whole = this.frame([{ index: 0, delta: { content: '\u0000delta' }, logprobs: null, finish_reason: null }]);
      const at = whole.indexOf(mark);
      this.deltaFrame = [whole.slice(0, at), whole.slice(at + mark.length)];
    }
    return this.deltaFrame[0] + JSON.stringify(text) + this.deltaFrame[1];
  }

  /** The finish chunk, the usage chunk (`choices: []`) when asked for, then `[DONE]`. */
  end(r: GatewayChatResult): string {
    this.model = r.model;
    let out = this.frame([{ index: 0, delta: {}, logprobs: null, finish_reason: finish(r.finishReason) }]);
    if (this.includeUsage) out += this.frame([], wireUsage(r.usage));
    return out + 'data: [DONE]\n\n';
  }

  /**
   * A failure after the stream began: OpenAI's in-stream error event (the SDK raises it as an APIError). When the
   * vendor died mid-answer, the partial answer's finish and usage come first, so what was billed is visible.
   */
  error(e: { code: string; message: string; status: number; partial?: GatewayChatResult }): string {
    let out = '';
    if (e.partial && this.includeUsage) out += this.frame([], wireUsage(e.partial.usage));
    const type = e.status >= 500 ? 'server_error' : e.status === 402 ? 'insufficient_quota' : 'invalid_request_error';
    out += `data: ${JSON.stringify({ error: { message: e.message, type, param: null, code: e.code.toLowerCase() } })}`
      + '\n\n';
    return out + 'data: [DONE]\n\n';
  }
}

/** Little-endian float32 bytes in base64, as OpenAI sends `encoding_format: 'base64'` (the SDK's default). */
export function base64Vector(v: number[]): string {
  return Buffer.from(new Float32Array(v).buffer).toString('base64');
}

export function embeddingsBody(o: { model: string; vectors: number[][]; usage: GatewayUsage; base64: boolean }) {
  return {
    object: 'list' as const,
    data: o.vectors.map((v, index) => ({
      object: 'embedding' as const, index, embedding: o.base64 ? base64Vector(v) : v,
    })),
    model: o.model,
    usage: {
      prompt_tokens: o.usage.promptTokens, total_tokens: o.usage.totalTokens,
      cost_cents: o.usage.costCents, cost_micros: o.usage.costMicros,
    },
  };
}

export function modelBody(m: { id: string; vendor: string }, created: number) {
  return { id: m.id, object: 'model' as const, created, owned_by: m.vendor };
}
