/**
 * The one error type handlers and adapters throw. The HTTP layer renders it as
 * `{ "error": { code, message, details, requestId, timestamp } }` with `status`.
 */
export interface ErrorDetail {
  field?: string;
  message: string;
  code?: string;
  [key: string]: unknown;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  /** Rendered as `error.details`. (Not named `details`: test reporters treat that key as a diff string.) */
  readonly errorDetails: ErrorDetail[] | Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly expose = true;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: AppError['errorDetails']; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.errorDetails = options.details;
    this.headers = options.headers;
  }
}

export const errors = {
  badRequest: (message: string, details?: AppError['errorDetails']) =>
    new AppError(400, 'BAD_REQUEST', message, { details }),
  validation: (details: ErrorDetail[]) => new AppError(400, 'VALIDATION_ERROR', 'The request is invalid', { details }),
  unauthorized: (message = 'Authentication is required', code = 'UNAUTHORIZED') =>
    new AppError(401, code, message, { headers: { 'WWW-Authenticate': 'Bearer' } }),
  forbidden: (message = 'You do not have permission to do this', code = 'FORBIDDEN') =>
    new AppError(403, code, message),
  notFound: (message = 'Not found') => new AppError(404, 'NOT_FOUND', message),
  conflict: (message: string, details?: AppError['errorDetails']) =>
    new AppError(409, 'CONFLICT', message, { details }),
  /** A dependency (database, cache, bus, vendor) failed: the client may retry. */
  unavailable: (dependency: string, retryAfterSeconds = 5, cause?: unknown) =>
    new AppError(503, 'SERVICE_UNAVAILABLE', `A dependency is unavailable: ${dependency}`, {
      details: { dependency, retry_after: retryAfterSeconds },
      headers: { 'Retry-After': String(retryAfterSeconds) },
      cause,
    }),
};

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
