/**
 * Token estimates. OpenAI's encodings are public (gpt-tokenizer); Anthropic's and Gemini's are not, so those
 * get a character heuristic. Vendor-reported usage always replaces these when it arrives.
 */
type Counter = (text: string) => number;

let o200k: Counter | undefined;
let cl100k: Counter | undefined;

/** Loads the BPE tables once (about 2 MB each, so only for adapters that use them). */
export async function loadOpenAiTokenizers(): Promise<void> {
  if (!o200k) o200k = (await import('gpt-tokenizer/encoding/o200k_base')).countTokens;
  if (!cl100k) cl100k = (await import('gpt-tokenizer/encoding/cl100k_base')).countTokens;
}

/** gpt-4o, gpt-4.1, gpt-5, o1/o3/o4 use o200k_base; older GPT-4/3.5 and most compatible vendors, cl100k. */
export function openAiTokens(text: string, model = ''): number {
  const modern = /^(gpt-4o|gpt-4\.1|gpt-5|o\d|chatgpt-4o)/.test(model);
  const counter = modern ? o200k : cl100k ?? o200k;
  return counter ? counter(text) : heuristicTokens(text);
}

/** About 4 characters per token for Latin text, about 1.5 for CJK: the published rules of thumb. */
export function heuristicTokens(text: string): number {
  if (!text) return 0;
  const cjk = (text.match(/[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]/g) ?? []).length;
  return Math.max(1, Math.ceil((text.length - cjk) / 4 + cjk / 1.5));
}

/** Chat framing costs a few tokens per message on every vendor; OpenAI documents 3 plus 3 for the reply. */
export function messagesTokens(messages: Array<{ content: string }>, count: Counter): number {
  return messages.reduce((n, m) => n + 3 + count(m.content), 3);
}
