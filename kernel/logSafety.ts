import pino from 'pino';

/**
 * What an error may say in a log line. Driver errors carry SQL text with the parameter values
 * inlined (password hashes, TOTP secrets, private keys) and constraint details with row values,
 * so outside debug they are logged by class, code, constraint and stack frames only. Every other
 * error keeps its message, with anything shaped like a credential masked.
 */
export interface SafeError {
  type: string;
  message?: string;
  code?: string | number;
  status?: number;
  sqlState?: string;
  constraint?: string;
  stack?: string;
  cause?: SafeError;
}

/** Text shapes of secrets: argon2 hashes, JWTs, API keys (`sk_...`), long hex/base64url tokens. */
const SECRET_SHAPES: RegExp[] = [
  /\$argon2[a-z]*\$[^\s'"`,)]*/g,
  /\beyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}/g,
  /\b[a-z]{1,12}_(?:live|test)_[A-Za-z0-9_-]{8,}/g,
  /\bsk_[A-Za-z0-9_-]{8,}/g,
  /\b[A-Za-z0-9_-]{40,}\b/g,
];

/** Masks credential-shaped substrings. */
export function scrubText(text: string): string {
  let out = text;
  for (const shape of SECRET_SHAPES) out = out.replace(shape, '[redacted]');
  return out;
}

const DRIVER_NAMES = /^(LibsqlError|SqliteError|DatabaseError|QueryFailedError|KnexTimeoutError|Mongo\w*Error|MongoError|PostgresError)$/;

/** An error raised by a database driver, or MikroORM's wrapper of one. */
export function isDriverError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as Record<string, unknown> & { name?: string };
  if (typeof e.name === 'string' && (DRIVER_NAMES.test(e.name) || /Exception$/.test(e.name))) return true;
  return 'sqlState' in e || 'sql' in e || 'query' in e || 'sqlMessage' in e || 'errmsg' in e || 'rawCode' in e;
}

/** `UNIQUE constraint failed: identity_users.email` (SQLite) or pg's `constraint` field. */
function constraintOf(e: Record<string, unknown>): string | undefined {
  if (typeof e.constraint === 'string') return e.constraint;
  const m = /constraint failed: ([\w.]+(?:, [\w.]+)*)/.exec(String(e.message ?? ''));
  if (m) return m[1];
  const mongo = /index: (\w+)/.exec(String(e.message ?? ''));
  return mongo?.[1];
}

function framesOnly(stack: unknown): string | undefined {
  if (typeof stack !== 'string') return undefined;
  return stack.split('\n').filter((l) => l.trim().startsWith('at ')).join('\n');
}

export function safeError(err: unknown, depth = 0): SafeError {
  if (!err || typeof err !== 'object') return { type: typeof err, message: scrubText(String(err)).slice(0, 500) };
  const e = err as Record<string, unknown> & { name?: string; message?: string; stack?: string };
  const type = String(e.name ?? (e.constructor as { name?: string } | undefined)?.name ?? 'Error');
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? e.code : undefined;
  const out: SafeError = { type };
  if (code !== undefined) out.code = code;
  if (typeof e.status === 'number') out.status = e.status;
  if (isDriverError(err)) {
    if (typeof e.sqlState === 'string') out.sqlState = e.sqlState;
    const constraint = constraintOf(e);
    if (constraint) out.constraint = constraint;
    out.stack = framesOnly(e.stack);
  } else {
    out.message = scrubText(String(e.message ?? ''));
    out.stack = typeof e.stack === 'string' ? scrubText(e.stack) : undefined;
  }
  const cause = e.cause ?? e.previous;
  if (cause && depth < 3) out.cause = safeError(cause, depth + 1);
  return out;
}

/**
 * pino serializers for the kernel's logger: `err` is made safe unless the level is debug or
 * trace, where the full error (with SQL and parameters) helps and is accepted.
 */
export function logSerializers(level: string): Record<string, (value: unknown) => unknown> {
  const verbose = level === 'debug' || level === 'trace';
  const err = verbose ? (v: unknown) => pino.stdSerializers.err(v as Error) : (v: unknown) => safeError(v);
  return { err };
}
