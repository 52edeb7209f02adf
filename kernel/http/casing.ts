import type { OpenApiDocument } from './contracts.ts';
import { resolveRef } from './contracts.ts';

export type Casing = 'camel' | 'snake';

const toSnakeMemo = new Map<string, string>();
const toCamelMemo = new Map<string, string>();

/** `refreshToken` -> `refresh_token`, `userID` -> `user_id`. Memoized: wire keys repeat. */
export function camelToSnake(name: string): string {
  let out = toSnakeMemo.get(name);
  if (out === undefined) {
    out = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toLowerCase();
    if (toSnakeMemo.size < 10_000) toSnakeMemo.set(name, out);
  }
  return out;
}

/** `refresh_token` -> `refreshToken`. */
export function snakeToCamel(name: string): string {
  let out = toCamelMemo.get(name);
  if (out === undefined) {
    out = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (toCamelMemo.size < 10_000) toCamelMemo.set(name, out);
  }
  return out;
}

const PRESERVE = 'x-casing';
/** Subtrees that hold values, not schemas: never renamed. */
const VALUE_KEYS = new Set(['example', 'examples', 'default', 'const', 'enum', 'x-success-message']);

/**
 * The document with wire names: schema property names, `required` lists and query/path
 * parameter names (and path templates) in snake_case. Headers keep their names; schemas
 * marked `x-casing: preserve` keep theirs (opaque maps: settings blobs, metadata, details).
 */
export function documentForCasing(document: OpenApiDocument, casing: Casing): OpenApiDocument {
  if (casing === 'camel') return document;
  const doc = structuredClone(document) as OpenApiDocument & Record<string, any>;
  if (doc.components) doc.components = renameSchemas(doc.components);
  const paths: Record<string, any> = {};
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    const wirePath = path.replace(/\{([^}]+)\}/g, (_, name: string) => `{${camelToSnake(name)}}`);
    paths[wirePath] = renameSchemas(item);
  }
  doc.paths = paths;
  return doc;
}

function renameSchemas(node: any): any {
  if (Array.isArray(node)) return node.map(renameSchemas);
  if (!node || typeof node !== 'object') return node;
  if (node[PRESERVE] === 'preserve') return node;
  const out: Record<string, any> = {};
  for (const [key, value] of Object.entries<any>(node)) {
    if (VALUE_KEYS.has(key)) out[key] = value;
    else if (key === 'properties' && value && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [camelToSnake(k), renameSchemas(v)]));
    } else if (key === 'required' && Array.isArray(value))
      out[key] = value.map((k) => (typeof k === 'string' ? camelToSnake(k) : k));
    else if (key === 'name' && typeof value === 'string' && (node.in === 'query' || node.in === 'path'))
      out[key] = camelToSnake(value);
    else out[key] = renameSchemas(value);
  }
  return out;
}

/**
 * A key map precomputed from one schema: per request, translation is one Map lookup per key.
 * `props` maps the incoming name to the outgoing one and the plan of its value.
 */
export interface KeyPlan {
  preserve?: boolean;
  props: Map<string, { to: string; plan?: KeyPlan }>;
  items?: KeyPlan;
  /** Plan for keys not named by the schema (additionalProperties). */
  extra?: KeyPlan;
}

export type Direction = 'in' | 'out';

/**
 * Builds the plan that translates values of `schema` (written in canonical camelCase) from
 * wire to canonical names (`in`) or back (`out`). Refs are followed once and shared, so
 * recursive schemas make cyclic plans, not infinite ones.
 */
export function planFor(
  document: OpenApiDocument,
  schema: unknown,
  direction: Direction,
  memo = new Map<string, KeyPlan>(),
): KeyPlan | undefined {
  if (!schema || typeof schema !== 'object') return undefined;
  const node = schema as Record<string, any>;
  if (typeof node.$ref === 'string') {
    const cached = memo.get(node.$ref);
    if (cached) return cached;
    const plan: KeyPlan = { props: new Map() };
    memo.set(node.$ref, plan);
    const built = planFor(document, resolveRef(document, node), direction, memo);
    if (built) Object.assign(plan, built);
    return plan;
  }
  if (node[PRESERVE] === 'preserve') return { preserve: true, props: new Map() };
  const plan: KeyPlan = { props: new Map() };
  for (const [name, sub] of Object.entries<any>(node.properties ?? {})) {
    const wire = camelToSnake(name);
    const [from, to] = direction === 'in' ? [wire, name] : [name, wire];
    plan.props.set(from, { to, plan: planFor(document, sub, direction, memo) });
  }
  if (node.items && typeof node.items === 'object') plan.items = planFor(document, node.items, direction, memo);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    plan.extra = planFor(document, node.additionalProperties, direction, memo);
  }
  for (const key of ['allOf', 'oneOf', 'anyOf'] as const) {
    for (const branch of node[key] ?? []) {
      const p = planFor(document, branch, direction, memo);
      if (!p) continue;
      if (p.preserve) return p;
      for (const [k, v] of p.props) if (!plan.props.has(k)) plan.props.set(k, v);
      plan.items ??= p.items;
      plan.extra ??= p.extra;
    }
  }
  return plan;
}

/** Translates a JSON value by its plan; keys the schema does not name are converted generically. */
export function translate(value: unknown, plan: KeyPlan | undefined, direction: Direction): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (plan?.preserve) return value;
  if (Array.isArray(value)) return value.map((v) => translate(v, plan?.items, direction));
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key in value as Record<string, unknown>) {
    const v = (value as Record<string, unknown>)[key];
    const known = plan?.props.get(key);
    if (known) out[known.to] = translate(v, known.plan, direction);
    else out[direction === 'in' ? snakeToCamel(key) : camelToSnake(key)] = translate(v, plan?.extra, direction);
  }
  return out;
}

/** Renames the keys of a flat object (query, path params) through a precomputed map. */
export function renameKeys(value: Record<string, unknown>, map: Map<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in value) out[map.get(key) ?? key] = value[key];
  return out;
}
