/** Deterministic text for the local stand-in: seeded by the prompt, made of the prompt's own words. */
import type { ChatMessage } from '../../../kernel/ports/aiProvider.ts';

const STOP = new Set(
  (
    'the a an and or but if then of to in on at by for with from as is are was were be been it this that ' +
    'these those i you he she we they me my your our their what which who whom how why when where can could would ' +
    'should will shall may might do does did not no yes so than too very just about into over please tell give write ' +
    'make show me explain'
  ).split(' '),
);

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for choosing words. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The local tokenizer: a word or a single punctuation mark is one token. */
export const TOKEN = /[\p{L}\p{N}_'-]+|[^\s\p{L}\p{N}_'-]/gu;
export const countLocalTokens = (text: string) => (text.match(TOKEN) ?? []).length;

export function keywords(text: string): string[] {
  const seen = new Set<string>();
  for (const w of text.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []) if (!STOP.has(w)) seen.add(w);
  return [...seen];
}

const OPENERS = ['Here is a short answer about', 'A few thoughts on', 'Briefly, regarding', 'To sum up'];
const LINKS = ['relates to', 'depends on', 'is often compared with', 'shapes', 'comes before'];
const FILLER = ['context', 'detail', 'practice', 'example', 'idea', 'approach', 'question', 'result'];

/** About `words` words, the same for the same conversation. Labelled as the stand-in it is. */
export function generateReply(messages: ChatMessage[], words = 60): string {
  const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const rand = prng(fnv1a(messages.map((m) => `${m.role}:${m.content}`).join('\n')));
  const pool = keywords(last);
  const pick = (list: string[]) => list[Math.floor(rand() * list.length)];
  const topic = () => (pool.length ? pick(pool) : pick(FILLER));
  const sentences = [`${pick(OPENERS)} ${topic()} (local stand-in model).`];
  let count = countLocalTokens(sentences[0]);
  while (count < words) {
    const s = `The ${topic()} ${pick(LINKS)} the ${topic()}, and each ${pick(FILLER)} ${pick(LINKS)} ${topic()}.`;
    sentences.push(s);
    count += countLocalTokens(s);
  }
  return sentences.join(' ');
}

/** The first `max` tokens of a text, with the spacing kept; `truncated` when it was cut. */
export function firstTokens(text: string, max: number): { text: string; truncated: boolean } {
  let n = 0;
  for (const m of text.matchAll(TOKEN)) {
    if (++n > max) return { text: text.slice(0, m.index).trimEnd(), truncated: true };
  }
  return { text, truncated: false };
}

/** The text as stream deltas: one token each, with its leading space. */
export function deltas(text: string): string[] {
  return text.match(/\s*(?:[\p{L}\p{N}_'-]+|[^\s\p{L}\p{N}_'-])/gu) ?? [];
}
