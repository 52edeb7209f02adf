/**
 * Tokens used by an invocation: the number the tool reports (at its `tokensPath`, or a well-known place) wins;
 * otherwise input and output are counted with OpenAI's o200k_base encoding (gpt-tokenizer), loaded on first use.
 */
type Count = (text: string) => number;
let count: Count | undefined;

export async function estimateTokens(...values: unknown[]): Promise<number> {
  count ??= (await import('gpt-tokenizer/encoding/o200k_base')).countTokens as Count;
  let total = 0;
  for (const v of values) if (v !== undefined) total += count(typeof v === 'string' ? v : JSON.stringify(v));
  return total;
}

/** Where tools commonly report their tokens, tried in order when a tool has no `tokensPath`. */
const WELL_KNOWN = ['tokens_used', 'tokensUsed', 'usage.total_tokens', 'usage.totalTokens', 'usage.tokens_used',
  'usage.tokens', 'total_tokens', 'tokens', 'usageMetadata.totalTokenCount'];
const PAIRS = [['usage.input_tokens', 'usage.output_tokens'], ['usage.prompt_tokens', 'usage.completion_tokens']];

/**
 * The tokens a tool reports: the non-negative integer at its `tokensPath` (`usage.total_tokens`), or, with
 * no path, at the first of the well-known places (OpenAI's, Anthropic's and Gemini's usage shapes included).
 */
export function reportedTokens(output: unknown, path: string | null | undefined): number | undefined {
  if (path) return at(output, path);
  for (const p of WELL_KNOWN) {
    const n = at(output, p);
    if (n !== undefined) return n;
  }
  for (const [a, b] of PAIRS) {
    const x = at(output, a);
    const y = at(output, b);
    if (x !== undefined && y !== undefined) return x + y;
  }
  return undefined;
}

function at(output: unknown, path: string): number | undefined {
  let at: unknown = output;
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return Number.isSafeInteger(at) && (at as number) >= 0 ? (at as number) : undefined;
}
