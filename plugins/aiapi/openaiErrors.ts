/**
 * Errors in OpenAI's shape, `{error: {message, type, param, code}}`, with the statuses the official SDK maps to its
 * own classes (400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError,
 * 429 RateLimitError, >= 500 InternalServerError, 402 a plain APIError).
 */
import { AppError, rawReply, type ErrorRenderer, type RenderableError, type Reply } from '../../kernel/index.ts';

export interface OpenAiErrorBody {
  /** OpenAI's four fields, and the request id every error of this deployment carries (the SDK ignores it). */
  error: { message: string; type: string; param: string | null; code: string | null; requestId?: string };
}

/** A refusal made here, already in OpenAI's terms. */
export class OpenAiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = typeFor(status),
  ) {
    super(message);
    this.name = 'OpenAiError';
  }
}

export const invalid = (param: string, message: string, code = 'invalid_value') =>
  new OpenAiError(400, message, param, code);

function typeFor(status: number): string {
  if (status === 401) return 'invalid_request_error';
  if (status === 402) return 'insufficient_quota';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return status === 503 ? 'service_unavailable' : 'api_error';
  return 'invalid_request_error';
}

/** Our codes whose OpenAI name differs from the lower-cased code. */
const CODES: Record<string, string> = {
  INSUFFICIENT_CREDITS: 'insufficient_quota',
  MODEL_NOT_FOUND: 'model_not_found',
  MODEL_NOT_AVAILABLE: 'model_not_available',
  CONTENT_BLOCKED: 'content_filter',
  RATE_LIMITED: 'rate_limit_exceeded',
  VALIDATION_ERROR: 'invalid_request',
};

/** The kernel's own refusals (made before a handler runs) by status: OpenAI's code for each. */
const KERNEL_CODES: Record<number, string> = {
  401: 'invalid_api_key',
  403: 'permission_denied',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'request_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limit_exceeded',
  503: 'service_unavailable',
};
/** Kernel codes that stand for "refused before the handler", which take OpenAI's code for their status. */
const KERNEL_REFUSALS = new Set(['FORBIDDEN', 'CREDENTIAL_NOT_ALLOWED', 'NOT_FOUND', 'METHOD_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE']);
/** Every 401 (missing, bad, expired or revoked key) is OpenAI's `invalid_api_key`, as OpenAI answers them. */
const kernelCode = (status: number, code: string) =>
  status === 401 || KERNEL_REFUSALS.has(code) || /_PRINCIPAL_REQUIRED$/.test(code) ? KERNEL_CODES[status] : undefined;

/**
 * The aiapi plugin's `openai` error format (`x-error-format: openai` in contracts/aiapi.yaml): every error on the
 * /v1 routes, the kernel's too (401 missing or bad key, 403, 429 with its Retry-After, 400 contract validation with
 * `param`, 405, 413, 503), in OpenAI's shape, plus `requestId`. Headers (Retry-After) are the kernel's, kept as set.
 */
export const renderOpenAiError: ErrorRenderer = (error: RenderableError, requestId: string) => {
  const { status, body } = openAiError(error);
  body.error.requestId = requestId;
  return { status, body };
};

/** The kernel's 404 for a path that matches no operation (kernel/http/app.ts). */
const NO_ROUTE = /^No route for ([A-Z]+) (\S+)$/;

/** The error as OpenAI would send it: ours (OpenAiError) as raised, the kernel's and AppErrors mapped. */
export function openAiError(e: OpenAiError | RenderableError):
  { status: number; body: OpenAiErrorBody; headers: Record<string, string> } {
  if (e instanceof OpenAiError) {
    return { status: e.status, headers: {}, body: { error: { message: e.message, type: e.type, param: e.param,
      code: e.code } } };
  }
  const status = e.status === 499 ? 400 : e.status;
  const unmatched = status === 404 && e.code === 'NOT_FOUND' ? NO_ROUTE.exec(e.message) : null;
  if (unmatched) {
    // What OpenAI answers for a path it does not serve (errorFormatPaths: '/v1').
    return { status, headers: { ...(e.headers ?? {}) }, body: { error: {
      message: `Invalid URL (${unmatched[1]} ${unmatched[2]})`, type: 'invalid_request_error', param: null,
      code: null } } };
  }
  const code = kernelCode(status, e.code) ?? CODES[e.code] ?? e.code.toLowerCase();
  const param = paramOf(e);
  const detail = Array.isArray(e.errorDetails) ? e.errorDetails[0] : undefined;
  const message = e.code === 'VALIDATION_ERROR' && detail?.message
    ? `Invalid value for '${param ?? 'request'}': ${detail.message}` : e.message;
  const body = { error: { message, type: typeFor(status), param, code } };
  return { status, headers: { ...(e.headers ?? {}) }, body };
}

/** The offending field without its location: `body.temperature` -> `temperature`, `path.model` -> `model`. */
function paramOf(e: Pick<RenderableError, 'errorDetails'>): string | null {
  const details = e.errorDetails;
  const field = Array.isArray(details) ? details[0]?.field : undefined;
  const param = field?.replace(/^(body|query|path|header)(\.|$)/, '');
  return param ? param : null;
}

export function errorReply(e: OpenAiError | AppError, requestId?: string): Reply<OpenAiErrorBody> {
  const { status, body, headers } = openAiError(e);
  if (requestId) body.error.requestId = requestId;
  return rawReply(status, body, headers);
}

/**
 * Runs a /v1 handler: its refusals are answered in OpenAI's shape, not the deployment's. Anything else (a bug) is
 * left to the kernel, which logs it and answers 500.
 */
export async function openAiEndpoint<T>(requestId: string, run: () => Promise<T>):
  Promise<T | Reply<OpenAiErrorBody>> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof OpenAiError || e instanceof AppError) return errorReply(e, requestId);
    throw e;
  }
}
