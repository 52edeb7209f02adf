/** A value that satisfies a JSON Schema, filled with the prompt's words: the local stand-in's structured output. */
import type { JsonSchema } from '../../../kernel/ports/adapter.ts';

type S = JsonSchema & {
  type?: string | string[]; properties?: Record<string, S>; required?: string[]; items?: S; enum?: unknown[];
  const?: unknown; minItems?: number; maxItems?: number; minimum?: number; maximum?: number; minLength?: number;
  maxLength?: number; format?: string; anyOf?: S[]; oneOf?: S[]; allOf?: S[]; exclusiveMinimum?: number;
  exclusiveMaximum?: number; multipleOf?: number; default?: unknown; $ref?: string; $defs?: Record<string, S>;
  definitions?: Record<string, S>; pattern?: string;
};

export function valueFor(schema: JsonSchema, words: string[], rand: () => number): unknown {
  let w = 0;
  const word = () => (words.length ? words[w++ % words.length] : 'item');
  const root = schema as S;
  const resolve = (s: S): S => {
    if (!s.$ref) return s;
    const name = s.$ref.replace(/^#\/(\$defs|definitions)\//, '');
    return (root.$defs ?? root.definitions ?? {})[name] ?? {};
  };
  const gen = (raw: S, key: string, depth: number): unknown => {
    const s = resolve(raw);
    if ('const' in s) return s.const;
    if (s.enum?.length) return s.enum[Math.floor(rand() * s.enum.length)];
    if (s.allOf?.length) return gen(Object.assign({}, ...s.allOf.map(resolve)) as S, key, depth);
    const alt = s.anyOf ?? s.oneOf;
    if (alt?.length) return gen(alt.find((a) => resolve(a).type !== 'null') ?? alt[0], key, depth);
    const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') ?? 'null' : s.type
      ?? (s.properties ? 'object' : s.items ? 'array' : 'string');
    switch (type) {
      case 'object': {
        const out: Record<string, unknown> = {};
        for (const [k, sub] of Object.entries(s.properties ?? {})) {
          if (depth < 6 || s.required?.includes(k)) out[k] = gen(sub, k, depth + 1);
        }
        return out;
      }
      case 'array': {
        const min = s.minItems ?? 1;
        const n = Math.max(min, Math.min(s.maxItems ?? 3, depth > 3 ? min : 3));
        return Array.from({ length: n }, () => gen(s.items ?? {}, key, depth + 1));
      }
      case 'integer':
      case 'number': {
        const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 0);
        const hi = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : lo + 100);
        let n = lo + Math.floor(rand() * (Math.max(lo, hi) - lo + 1));
        if (s.multipleOf) n = Math.ceil(lo / s.multipleOf) * s.multipleOf;
        return n;
      }
      case 'boolean':
        return rand() < 0.5;
      case 'null':
        return null;
      default:
        return stringFor(s, key, word);
    }
  };
  return gen(root, 'value', 0);
}

function stringFor(s: S, key: string, word: () => string): string {
  switch (s.format) {
    case 'date-time': return '2026-01-01T00:00:00.000Z';
    case 'date': return '2026-01-01';
    case 'email': return `${word().replace(/\W/g, '') || 'user'}@example.com`;
    case 'uri': case 'url': return `https://example.com/${encodeURIComponent(word())}`;
    case 'uuid': return '00000000-0000-7000-8000-000000000000';
  }
  const long = /description|summary|text|body|content|prompt/i.test(key);
  let text = long ? [word(), word(), word(), word(), word()].join(' ') : word();
  if (/title|name/i.test(key)) text = text.charAt(0).toUpperCase() + text.slice(1);
  const min = s.minLength ?? 0;
  while (text.length < min) text += ` ${word()}`;
  if (s.maxLength !== undefined) text = text.slice(0, s.maxLength);
  return text;
}
