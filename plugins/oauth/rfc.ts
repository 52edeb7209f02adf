import { narrowTo, rawReply, type Reply } from '../../kernel/index.ts';

/** Error codes of RFC 6749 §5.2 (token endpoint), RFC 7009 and §4.1.2.1 (authorization endpoint). */
export type OAuthErrorCode =
  | 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type'
  | 'invalid_scope' | 'unsupported_token_type' | 'access_denied' | 'unsupported_response_type';

/** Sent on every token, revocation and introspection response (RFC 6749 §5.1). */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/**
 * An RFC-shaped error of the token, revocation or introspection endpoint. Never reaches the
 * kernel's error renderer: `rfcEndpoint` turns it into `{ error, error_description }`.
 */
export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    description: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

/**
 * `invalid_client`: 401 with a Basic challenge when the client used (or did not attempt) HTTP
 * authentication, else 400.
 */
export function invalidClient(description: string, challenge: boolean): OAuthError {
  return challenge
    ? new OAuthError('invalid_client', description, 401, { 'WWW-Authenticate': 'Basic realm="oauth", charset="UTF-8"' })
    : new OAuthError('invalid_client', description, 400);
}

/** An RFC 6749 §5.2 error body. */
export interface OAuthErrorBody { error: OAuthErrorCode; error_description: string }

export function errorReply(e: OAuthError): Reply<OAuthErrorBody> {
  return rawReply(e.status, { error: e.code, error_description: e.message }, { ...NO_STORE, ...e.headers });
}

/** Runs an RFC endpoint: RFC errors become RFC bodies, and every answer is `no-store`. */
/** The errors the token, revocation and introspection endpoints answer (the other two codes are only redirected). */
type EndpointErrorBody = OAuthErrorBody & {
  error: Exclude<OAuthErrorCode, 'access_denied' | 'unsupported_response_type'>;
};

export async function rfcEndpoint<T>(run: () => Promise<T>): Promise<Reply<T> | Reply<EndpointErrorBody>> {
  try {
    return rawReply(200, await run(), { ...NO_STORE });
  } catch (e) {
    if (e instanceof OAuthError) return errorReply(e) as Reply<EndpointErrorBody>;
    throw e;
  }
}

/**
 * The parameters of a form-encoded request. RFC 6749 §3.1: parameters sent without a value
 * are treated as omitted, and none may be sent more than once.
 */
export function formParams(body: unknown): Record<string, string> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    if (typeof value !== 'string')
      throw new OAuthError('invalid_request', `Parameter ${name.slice(0, 50)} must be sent once, as a plain value`);
    if (value !== '') out[name] = value;
  }
  return out;
}

/** Scope tokens (RFC 6749 §3.3): space-delimited, case-sensitive, %x21 / %x23-5B / %x5D-7E. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Parses a scope parameter into distinct tokens; undefined when absent, null when malformed. */
export function parseScope(value: string | undefined): string[] | undefined | null {
  if (value === undefined) return undefined;
  const tokens = value.split(' ').filter(Boolean);
  if (!tokens.length || tokens.some((t) => !SCOPE_TOKEN.test(t) || t === '*')) return null;
  return [...new Set(tokens)];
}

export function isWildcard(permissions: string[]): boolean {
  return permissions.includes('*');
}

/** The part of `wanted` that `held` covers (`*` covers everything): the kernel's one grant rule. */
export function within(wanted: string[], held: string[]): string[] {
  return narrowTo(held, wanted);
}
