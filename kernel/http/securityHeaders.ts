import type { Context } from 'koa';

/** API answers are data, never documents to render or frame. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const HSTS = 'max-age=31536000; includeSubDomains';

/**
 * Security headers on every response: nosniff, a CSP with `frame-ancestors 'none'`, HSTS when
 * the request came over TLS (or through a trusted proxy saying `X-Forwarded-Proto: https`), and
 * `Cache-Control: no-store` on operations marked `x-sensitive: true` (their answers carry secrets).
 * Set first (a handler that streams sends them), and again after the rest where anything
 * changed them (error rendering drops headers; a route marks itself sensitive; a page sets its CSP).
 */
/** Sets the headers before the handler runs; returns whether the request is secure (HSTS). */
export function setSecurityHeaders(ctx: Context): boolean {
  const res = ctx.res;
  const secure = ctx.secure;
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // Pages that render (the docs) put their own policy in ctx.state.csp.
  res.setHeader('Content-Security-Policy', (ctx.state.csp as string | undefined) ?? API_CSP);
  if (secure) res.setHeader('Strict-Transport-Security', HSTS);
  if (ctx.state.sensitive === true) sensitive(res);
  return secure;
}

/** After the rest: sets them again only where they are not as they must be (cheap lookups otherwise). */
export function resetSecurityHeaders(ctx: Context, secure: boolean): void {
  const res = ctx.res;
  const csp = (ctx.state.csp as string | undefined) ?? API_CSP;
  if (res.getHeader('x-content-type-options') !== 'nosniff') res.setHeader('X-Content-Type-Options', 'nosniff');
  if (res.getHeader('content-security-policy') !== csp) res.setHeader('Content-Security-Policy', csp);
  if (secure && res.getHeader('strict-transport-security') !== HSTS) res.setHeader('Strict-Transport-Security', HSTS);
  if (ctx.state.sensitive === true) sensitive(res);
}

function sensitive(res: Context['res']) {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}
