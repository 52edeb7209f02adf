import type { ErrorDetail } from '../errors.ts';
import type { KernelConfig } from '../config/schema.ts';
import { camelToSnake, type Casing } from './casing.ts';

/**
 * How a deployment spells its errors: envelope, casing, renamed codes, extra fields
 * (`suggestedAction` per code, a `documentation` link) and the shape of `details`.
 * Compiled once from config; `errorBody` and `errorSchema` agree by construction.
 */
export interface ErrorDialect {
  envelope: 'plain' | 'success';
  casing: Casing;
  codes: Record<string, string>;
  suggestedActions: Record<string, string>;
  /** URL template with `{code}` (the renamed code). */
  documentation?: string;
  /** `nested`: a list of `{field, message, code}`; `flat`: an object `{ "<field>": "<message>" }`. */
  details: 'nested' | 'flat';
}

export interface ErrorLike { code: string; message: string; errorDetails?: ErrorDetail[] | Record<string, unknown> }

export function errorDialect(config: KernelConfig): ErrorDialect {
  const e = config.server.errors ?? { codes: {}, suggestedActions: {}, details: 'nested' as const };
  return {
    envelope: config.server.envelope,
    casing: config.server.casing ?? 'camel',
    codes: e.codes ?? {},
    suggestedActions: e.suggestedActions ?? {},
    documentation: e.documentation,
    details: e.details ?? 'nested',
  };
}

export const plainDialect = (envelope: 'plain' | 'success'): ErrorDialect =>
  ({ envelope, casing: 'camel', codes: {}, suggestedActions: {}, details: 'nested' });

/** The error body in the deployment's dialect. Own keys are translated; `details` content is not (it is opaque). */
export function errorBody(
  d: ErrorDialect,
  error: ErrorLike,
  requestId: string,
  now = new Date(),
): Record<string, unknown> {
  const code = Object.hasOwn(d.codes, error.code) ? d.codes[error.code] : error.code;
  const snake = d.casing === 'snake';
  const inner: Record<string, unknown> = {
    code,
    message: error.message,
    details: shapeDetails(d, error.errorDetails),
    [snake ? 'request_id' : 'requestId']: requestId,
    timestamp: now.toISOString(),
  };
  const action = Object.hasOwn(d.suggestedActions, code) ? d.suggestedActions[code] : d.suggestedActions[error.code];
  if (action !== undefined) inner[snake ? 'suggested_action' : 'suggestedAction'] = action;
  if (d.documentation) inner.documentation = d.documentation.replace(/\{code\}/g, encodeURIComponent(code));
  return d.envelope === 'success' ? { success: false, message: error.message, error: inner } : { error: inner };
}

function shapeDetails(d: ErrorDialect, details: ErrorLike['errorDetails']): unknown {
  if (details === undefined || details === null) return null;
  if (!Array.isArray(details)) return details;
  const list = details;
  if (d.details === 'nested') return list;
  const flat: Record<string, string> = {};
  for (const x of list) {
    const key = x.field ?? 'request';
    flat[key] = flat[key] ? `${flat[key]}; ${x.message}` : x.message;
  }
  return flat;
}

/** The `Error` schema for the served contract, in canonical names (the casing pass renames them). */
export function errorSchema(d: ErrorDialect): Record<string, unknown> {
  const list = {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        field: { type: 'string', examples: ['body.title'] },
        message: { type: 'string' },
        code: { type: 'string' },
      },
    },
  };
  const flat = {
    type: 'object',
    additionalProperties: { type: 'string' },
    examples: [{ 'body.title': 'must be string' }],
  };
  const properties: Record<string, unknown> = {
    code: { type: 'string', examples: [d.codes.VALIDATION_ERROR ?? 'VALIDATION_ERROR'] },
    message: { type: 'string' },
    details: {
      'x-casing': 'preserve',
      description: d.details === 'flat'
        ? 'Field-level problems as `{field: message}`, or facts about the error.'
        : 'Field-level problems (a list) or facts about the error (an object).',
      anyOf: [d.details === 'flat' ? flat : list, { type: 'object' }, { type: 'null' }],
    },
    requestId: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time' },
  };
  const required = ['code', 'message', 'details', 'requestId', 'timestamp'];
  if (Object.keys(d.suggestedActions).length)
    properties.suggestedAction = { type: 'string', description: 'What the client can do about it.' };
  if (d.documentation) {
    properties.documentation = {
      type: 'string',
      format: 'uri',
      examples: [d.documentation.replace('{code}', 'VALIDATION_ERROR')],
    };
    required.push('documentation');
  }
  return { type: 'object', required: ['error'], properties: { error: { type: 'object', required, properties } } };
}

/** Field names in a handler's error details (`body.refreshToken`) in wire casing. Validation details already are. */
export function wireFieldNames(error: unknown): unknown {
  const details = (error as ErrorLike | undefined)?.errorDetails;
  if (Array.isArray(details))
    for (const x of details) if (typeof x.field === 'string') x.field = x.field.split('.').map(camelToSnake).join('.');
  return error;
}

/** What an error renderer is given: the refusal as the kernel holds it (an AppError). */
export interface RenderableError extends ErrorLike {
  status: number;
  headers?: Record<string, string>;
}

/** An error body in another format than the deployment's, with its status and any headers to add. */
export interface RenderedError {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * A named error format a plugin registers (`errorFormats` in definePlugin) for operations that declare
 * `x-error-format: <name>`: every error on those routes (401, 403, 429, 400 validation, 413, 405, 503, handler
 * refusals) is rendered by it instead of the deployment's dialect. The kernel knows the name, not the format.
 */
export type ErrorRenderer = (error: RenderableError, requestId: string) => RenderedError;

/** Every enabled plugin's error formats by name; two plugins registering one name is a boot error. */
export function errorFormatRegistry(
  plugins: ReadonlyArray<{ name: string; errorFormats?: Record<string, ErrorRenderer> }>,
): Map<string, ErrorRenderer> {
  const formats = new Map<string, ErrorRenderer>();
  const owners = new Map<string, string>();
  for (const p of plugins) {
    for (const [name, render] of Object.entries(p.errorFormats ?? {})) {
      if (owners.has(name))
        throw new Error(`Error format "${name}" is registered by both ${owners.get(name)} and ${p.name}`);
      owners.set(name, p.name);
      formats.set(name, render);
    }
  }
  return formats;
}
