import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenAPIV3_1 } from 'openapi-types';
import type { ErrorDetail } from '../errors.ts';
import { resolveRef, type OpenApiDocument, type OperationEntry } from './contracts.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020, options?: unknown) => Ajv2020;
const CONTRACT_ID = 'kernel:contract';

/** The compiled checks of one operation. Built once at boot. */
export interface OperationValidators {
  params?: ValidateFunction;
  query?: ValidateFunction;
  headers?: ValidateFunction;
  /** Per media type (`application/json`). */
  body?: Map<string, ValidateFunction>;
  bodyRequired: boolean;
  /** Per status code (`200`, `default`), for the JSON body. */
  responses?: Map<string, ValidateFunction>;
}

/**
 * Two ajv instances over one contract: one that coerces strings (path, query, headers
 * arrive as text) and one that never coerces (JSON bodies and responses keep their types).
 */
export class ContractValidator {
  private coercing: BoundedCompiler;
  private strict: BoundedCompiler;

  constructor(private document: OpenApiDocument) {
    const components = { $id: CONTRACT_ID, components: rewriteRefs(document.components ?? {}) };
    this.coercing = new BoundedCompiler({ coerceTypes: 'array' }, components);
    this.strict = new BoundedCompiler({ coerceTypes: false }, components);
  }

  compile(entry: OperationEntry, withResponses: boolean): OperationValidators {
    const validators: OperationValidators = { bodyRequired: false };
    const groups: Record<'path' | 'query' | 'header', OpenAPIV3_1.ParameterObject[]> = {
      path: [],
      query: [],
      header: [],
    };
    for (const p of entry.parameters) if (p.in in groups) groups[p.in as keyof typeof groups].push(p);
    if (groups.path.length) validators.params = this.coercing.compile(objectOf(groups.path, false));
    if (groups.query.length) validators.query = this.coercing.compile(objectOf(groups.query, false));
    if (groups.header.length) validators.headers = this.coercing.compile(objectOf(groups.header, true));

    const requestBody = resolveRef<OpenAPIV3_1.RequestBodyObject>(this.document, entry.operation.requestBody as any);
    if (requestBody?.content) {
      validators.bodyRequired = requestBody.required === true;
      validators.body = new Map();
      for (const [type, media] of Object.entries(requestBody.content)) {
        validators.body.set(type, this.strict.compile(media.schema ? rewriteRefs(media.schema) : {}));
      }
    }
    if (withResponses) {
      validators.responses = new Map();
      for (const [status, raw] of Object.entries(entry.operation.responses ?? {})) {
        const response = resolveRef<OpenAPIV3_1.ResponseObject>(this.document, raw as any);
        const schema = response?.content?.['application/json']?.schema;
        if (schema) validators.responses.set(status, this.strict.compile(rewriteRefs(schema)));
        // A stream (text/event-stream) or a download is declared but not a JSON body: nothing to check.
        else if (response?.content && Object.keys(response.content).length) {
          validators.responses.set(status, this.strict.compile({}));
        }
      }
    }
    return validators;
  }
}

function objectOf(params: OpenAPIV3_1.ParameterObject[], lowerCase: boolean) {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const p of params) {
    const name = lowerCase ? p.name.toLowerCase() : p.name;
    properties[name] = rewriteRefs(p.schema ?? {});
    if (p.required || p.in === 'path') required.push(name);
  }
  return { type: 'object', properties, required };
}

/** `#/components/x` -> `kernel:contract#/components/x`, so refs resolve inside compiled fragments. */
function rewriteRefs<T>(node: T): T {
  if (Array.isArray(node)) return node.map(rewriteRefs) as T;
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${CONTRACT_ID}${v}` : rewriteRefs(v);
    }
    return out as T;
  }
  return node;
}

/** At most this many field-level details are listed; a last `code: "truncated"` entry says more were found. */
export const MAX_DETAILS = 20;
/** Inputs up to this many values get every problem listed (up to MAX_DETAILS); larger ones stop at the first. */
const FULL_CHECK_MAX_NODES = 2000;
const TRUNCATED: ErrorObject = {
  keyword: 'truncated',
  instancePath: '',
  schemaPath: '',
  params: {},
  message: `more problems were found; at most ${MAX_DETAILS} are listed`,
};

/**
 * Compiles each schema for a cheap first pass (ajv stops at the first error), and, on first
 * failure, an `allErrors` one used only for inputs small enough that listing every problem
 * is cheap. A 1 MB body of 500,000 wrong items costs one failed check, not 500,000 errors.
 * The returned function behaves as ajv's: `false` and `.errors` set, read right after the call.
 */
class BoundedCompiler {
  private fast: Ajv2020;
  private full?: Ajv2020;

  constructor(private options: { coerceTypes: 'array' | false }, private components: object) {
    this.fast = this.ajv(false);
  }

  private ajv(allErrors: boolean): Ajv2020 {
    const ajv = new Ajv2020({ allErrors, strict: false, coerceTypes: this.options.coerceTypes, useDefaults: true });
    addFormats(ajv);
    ajv.addSchema(this.components);
    return ajv;
  }

  compile(schema: object): ValidateFunction {
    const fast = this.fast.compile(schema);
    let full: ValidateFunction | undefined;
    const check = ((data: unknown) => {
      if (fast(data)) { check.errors = null; return true; }
      if (nodesAtMost(data, FULL_CHECK_MAX_NODES)) {
        full ??= (this.full ??= this.ajv(true)).compile(schema);
        check.errors = full(data) ? fast.errors : full.errors;
      } else {
        check.errors = [...(fast.errors ?? []), TRUNCATED];
      }
      return false;
    }) as ValidateFunction;
    return check;
  }
}

/** Whether `data` holds at most `max` values, counted with an early exit. */
function nodesAtMost(data: unknown, max: number): boolean {
  let budget = max;
  const stack: unknown[] = [data];
  while (stack.length) {
    const node = stack.pop();
    if (--budget < 0) return false;
    if (Array.isArray(node)) {
      if (node.length > budget) return false;
      for (const v of node) if (v && typeof v === 'object') stack.push(v); else budget--;
    } else if (node && typeof node === 'object') {
      for (const key in node) {
        if (--budget < 0) return false;
        const v = (node as Record<string, unknown>)[key];
        if (v && typeof v === 'object') stack.push(v);
      }
    }
  }
  return budget >= 0;
}

/**
 * ajv errors as field-level details: `{ field: "body.title", message, code: "maxLength" }`, at most
 * MAX_DETAILS and a marker.
 */
export function toDetails(errors: ErrorObject[] | null | undefined, location: string): ErrorDetail[] {
  let list = errors ?? [];
  if (list.length > MAX_DETAILS)
    list = [...list.slice(0, MAX_DETAILS).filter((e) => e.keyword !== 'truncated'), TRUNCATED];
  return list.map((e) => {
    if (e.keyword === 'truncated') return { field: location, message: e.message!, code: 'truncated' };
    const segments = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (e.keyword === 'required') segments.push((e.params as { missingProperty: string }).missingProperty);
    if (e.keyword === 'additionalProperties')
      segments.push((e.params as { additionalProperty: string }).additionalProperty);
    const field = [location, ...segments].join('.');
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') message = 'is not allowed';
    if (e.keyword === 'enum')
      message = `must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    return { field, message, code: e.keyword };
  });
}
