import type { Router } from '@koa/router';

type Layer = Router['stack'][number];

/** What a match gives the dispatch: the layer the router would run first, and its decoded params. */
export interface RouteHit {
  layer: Layer;
  params: Record<string, string>;
}

interface Candidate {
  layer: Layer;
  methods: ReadonlySet<string>;
  /** Per path segment: the literal, or null for a whole-segment parameter. */
  segments: Array<string | null>;
  paramNames: string[];
  /** A template this table does not parse (parameters inside a segment...): only its regexp decides. */
  complex: boolean;
}

const PARAM = /^:([A-Za-z_$][A-Za-z0-9_$]*)$/;
/** Characters path-to-regexp reads as syntax; a segment with none of them is a literal. */
const LITERAL = /^[A-Za-z0-9._~-]*$/;

/**
 * The layer @koa/router would pick first for a path with parameters, found by comparing path
 * segments against the contract's templates (in registration order, same segment count only)
 * instead of testing every layer's regexp. Built once from the router's own layers.
 *
 * Exact-case paths only: where the router's case-insensitive match or its optional trailing
 * slash could decide otherwise (a segment equal to a literal but for case, an empty segment, a
 * template it cannot parse), `match` answers undefined and the caller asks the router itself.
 * A path no route matches (404, 405) also goes to the router.
 */
export class RouteTable {
  private readonly bySegments = new Map<number, Candidate[]>();

  constructor(router: Router) {
    const all: Array<Candidate & { count: number }> = [];
    for (const layer of router.stack) {
      if (typeof layer.path !== 'string' || !layer.methods.length) return; // router.use() middleware: not ours
      const parts = layer.path.split('/').slice(1);
      const segments: Array<string | null> = [];
      const paramNames: string[] = [];
      let complex = layer.path[0] !== '/';
      for (const part of parts) {
        const param = PARAM.exec(part);
        if (param) {
          segments.push(null);
          paramNames.push(param[1]);
        } else if (part !== '' && LITERAL.test(part)) segments.push(part);
        else complex = true;
      }
      const names = layer.paramNames.map((k) => k.name);
      if (names.length !== paramNames.length || names.some((n, i) => n !== paramNames[i])) complex = true;
      all.push({ layer, methods: new Set(layer.methods), segments, paramNames, complex, count: parts.length });
    }
    const counts = new Set(all.filter((c) => !c.complex).map((c) => c.count));
    for (const count of counts) {
      // A complex template may match any segment count: it keeps its place in every list.
      this.bySegments.set(count, all.filter((c) => c.complex || c.count === count));
    }
  }

  match(method: string, path: string): RouteHit | undefined {
    if (path.charCodeAt(0) !== 47) return undefined;
    const parts = path.split('/');
    const count = parts.length - 1;
    const candidates = this.bySegments.get(count);
    if (!candidates) return undefined;
    for (let i = 1; i <= count; i++) if (parts[i] === '') return undefined;
    for (const c of candidates) {
      if (c.complex) {
        if (c.layer.regexp.test(path)) return undefined;
        continue;
      }
      const fit = fits(c.segments, parts);
      if (fit === AMBIGUOUS) return undefined;
      if (!fit || !c.methods.has(method)) continue;
      const params: Record<string, string> = {};
      let p = 0;
      for (let i = 0; i < c.segments.length; i++) {
        if (c.segments[i] === null) params[c.paramNames[p++]] = safeDecode(parts[i + 1]);
      }
      return { layer: c.layer, params };
    }
    return undefined;
  }
}

const AMBIGUOUS = 2;

/** 1: the path fits the template exactly; 0: it does not; AMBIGUOUS: only case-insensitively (the router decides). */
function fits(segments: Array<string | null>, parts: string[]): number {
  for (let i = 0; i < segments.length; i++) {
    const literal = segments[i];
    if (literal === null) continue;
    const part = parts[i + 1];
    if (part === literal) continue;
    if (part.length === literal.length && sameIgnoringCase(part, literal)) return AMBIGUOUS;
    return 0;
  }
  return 1;
}

/**
 * `part.toLowerCase() === literal.toLowerCase()` for strings of one length, `literal` ASCII (LITERAL): compared
 * code by code, without the two lowercased copies (a path is compared with every template of its length).
 */
function sameIgnoringCase(part: string, literal: string): boolean {
  for (let i = 0; i < part.length; i++) {
    const a = part.charCodeAt(i);
    const b = literal.charCodeAt(i);
    if (a === b) continue;
    if (a >= 128) return part.toLowerCase() === literal.toLowerCase(); // Unicode case mapping: as it was
    const lower = a | 32;
    if (lower !== (b | 32) || lower < 97 || lower > 122) return false;
  }
  return true;
}

/** As @koa/router decodes a parameter: a malformed escape leaves the text as it is. */
function safeDecode(text: string): string {
  if (text.indexOf('%') === -1) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
