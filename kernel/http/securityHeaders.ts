import type { Context, Next } from 'koa';

/** API answers are data, never documents to render or frame. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
/**
 * The docs page: Swagger UI from this origin only (no inline script: its init is /docs/init.js),
 * inline styles (React sets them), data: images (the CSS icons), and calls to this origin.
 */
const DOCS_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
  + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
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
  ctx.set('Content-Security-Policy', ctx.path === '/docs' || ctx.path.startsWith('/docs/') ? DOCS_CSP : API_CSP);
  if (ctx.secure) ctx.set('Strict-Transport-Security', HSTS);
  if (ctx.state.sensitive === true) {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
  }
}
