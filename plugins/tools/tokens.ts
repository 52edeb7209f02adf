/**
 * Tokens used by an invocation: the number the tool reports at its `tokensPath` wins; otherwise
 * input and output are counted with OpenAI's o200k_base encoding (gpt-tokenizer), loaded on first use.
 */
type Count = (text: string) => number;
let count: Count | undefined;

export async function estimateTokens(...values: unknown[]): Promise<number> {
  count ??= (await import('gpt-tokenizer/encoding/o200k_base')).countTokens as Count;
  let total = 0;
  for (const v of values) if (v !== undefined) total += count(typeof v === 'string' ? v : JSON.stringify(v));
  return total;
}

/** The non-negative integer at a dot path (`usage.total_tokens`) of a JSON value, if there is one. */
export function reportedTokens(output: unknown, path: string | null | undefined): number | undefined {
  if (!path) return undefined;
  let at: unknown = output;
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return Number.isSafeInteger(at) && (at as number) >= 0 ? (at as number) : undefined;
}
