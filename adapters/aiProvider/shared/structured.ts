/** Structured output: the vendor's JSON answer parsed and validated against the schema, with one repair retry. */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import {
  AiError, type CallOptions, type ChatMessage, type StructuredRequest, type StructuredResult, type Usage,
} from '../../../kernel/ports/aiProvider.ts';
import type { JsonSchema } from '../../../kernel/ports/adapter.ts';

const ajv = new Ajv2020({ strict: false, allErrors: true });
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

export function validatorFor(schema: JsonSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    try {
      v = ajv.compile(schema);
    } catch (err) {
      throw new AiError(
        'bad_request',
        'structured',
        `The output schema is not a valid JSON Schema: ${(err as Error).message}`,
      );
    }
    compiled.set(schema, v);
  }
  return v;
}

/** A JSON object out of a model's answer: bare, fenced in ```json, or with prose around it. */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(trimmed);
  const candidate = fenced ? fenced[1] : trimmed;
  try {
    return JSON.parse(candidate);
  } catch {
    const start = candidate.search(/[[{]/);
    const end = Math.max(candidate.lastIndexOf('}'), candidate.lastIndexOf(']'));
    if (start >= 0 && end > start) return JSON.parse(candidate.slice(start, end + 1));
    throw new SyntaxError('no JSON value in the answer');
  }
}

export const addUsage = (a: Usage, b: Usage): Usage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  estimated: a.estimated || b.estimated,
});

/** What an adapter supplies: one JSON-mode completion for the messages (the schema enforced natively if it can). */
export type JsonCompletion = (
  request: StructuredRequest, messages: ChatMessage[], options: CallOptions,
) => Promise<{ text: string; usage: Usage; model: string }>;

export function schemaInstruction(schema: JsonSchema): string {
  return 'Answer with one JSON value only, no prose and no code fence, that satisfies this JSON Schema:\n'
    + JSON.stringify(schema);
}

export async function structuredWithRepair<T>(
  provider: string, complete: JsonCompletion, request: StructuredRequest, options: CallOptions = {},
): Promise<StructuredResult<T>> {
  const validate = validatorFor(request.schema);
  let messages = request.messages;
  let usage: Usage = { inputTokens: 0, outputTokens: 0, estimated: false };
  let problem = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    const answer = await complete(request, messages, options);
    usage = attempt === 1 ? answer.usage : addUsage(usage, answer.usage);
    let value: unknown;
    try {
      value = extractJson(answer.text);
      if (validate(value)) return { value: value as T, usage, model: answer.model, attempts: attempt };
      problem = ajv.errorsText(validate.errors, { separator: '; ' });
    } catch (err) {
      problem = (err as Error).message;
    }
    messages = [
      ...request.messages,
      { role: 'assistant', content: answer.text },
      {
        role: 'user',
        content: `That answer is not valid: ${problem}. Reply again with only the corrected JSON value.`,
      },
    ];
  }
  throw new AiError('invalid_output', provider, `The answer did not match the schema after one repair: ${problem}`);
}
