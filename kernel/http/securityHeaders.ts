import type { Context, Next } from 'koa';

/** API answers are data, never documents to render or frame. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const HSTS = 'max-age=31536000; includeSubDomains';

/**
 * Security headers on every response: nosniff, a CSP with `frame-ancestors 'none'`, HSTS when
 * the request came over TLS (or through a trusted proxy saying `X-Forwarded-Proto: https`), and
 * `Cache-Control: no-store` on operations marked `x-sensitive: true` (their answers carry secrets).
 * Runs outermost and sets them again after the rest, so error rendering cannot drop them.
 */
export function securityHeaders() {
  return async function securityHeadersMiddleware(ctx: Context, next: Next) {
    apply(ctx);
    await next();
    if (!ctx.headerSent) apply(ctx);
  };
}

function apply(ctx: Context) {
  ctx.set('X-Content-Type-Options', 'nosniff');
  // Pages that render (the docs) put their own policy in ctx.state.csp.
  ctx.set('Content-Security-Policy', (ctx.state.csp as string | undefined) ?? API_CSP);
  if (ctx.secure) ctx.set('Strict-Transport-Security', HSTS);
  if (ctx.state.sensitive === true) {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
  }
}
