/**
 * Errors in OpenAI's shape, `{error: {message, type, param, code}}`, with the statuses the official SDK maps to its
 * own classes (400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError,
 * 429 RateLimitError, >= 500 InternalServerError, 402 a plain APIError).
 */
import { AppError, rawReply, type Reply } from '../../kernel/index.ts';

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
  if (status === 401) return 'authentication_error';
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

/** The error as OpenAI would send it. */
export function openAiError(e: OpenAiError | AppError):
  { status: number; body: OpenAiErrorBody; headers: Record<string, string> } {
  if (e instanceof OpenAiError) {
    return { status: e.status, headers: {}, body: { error: { message: e.message, type: e.type, param: e.param,
      code: e.code } } };
  }
  const status = e.status === 499 ? 400 : e.status;
  const code = CODES[e.code] ?? e.code.toLowerCase();
  return {
    status, headers: { ...(e.headers ?? {}) },
    body: { error: { message: e.message, type: typeFor(status), param: paramOf(e), code } },
  };
}

function paramOf(e: AppError): string | null {
  const details = e.errorDetails;
  const field = Array.isArray(details) ? details[0]?.field : undefined;
  return field ? field.replace(/^body\./, '') : null;
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
