import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Context } from 'koa';
import type { OpenApiDocument } from './contracts.ts';

const require = createRequire(import.meta.url);
const JS = 'application/javascript; charset=utf-8';
/** Files served from npm packages: name under the page's path -> [package, file in it, type]. */
const SWAGGER_ASSETS: Record<string, [string, string]> = {
  'swagger-ui.css': ['swagger-ui.css', 'text/css; charset=utf-8'],
  'swagger-ui-bundle.js': ['swagger-ui-bundle.js', JS],
  'swagger-ui-standalone-preset.js': ['swagger-ui-standalone-preset.js', JS],
};
const REDOC_ASSETS: Record<string, [string, string]> = { 'redoc.standalone.js': ['bundles/redoc.standalone.js', JS] };

/**
 * The docs page: Swagger UI from this origin only (no inline script: its init is /docs/init.js),
 * inline styles (React sets them), data: images (the CSS icons), and calls to this origin.
 */
const DOCS_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
  + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** ReDoc also needs a blob: worker; its bundle links a logo on a CDN, which this policy keeps off. */
const REDOC_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
  + "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export interface DocsPaths { swagger: string; redoc: string; openapi: string }
const DEFAULT_PATHS: DocsPaths = { swagger: '/docs', redoc: '/redoc', openapi: '/openapi.json' };

/** Cheap check that a request path may be one of the docs routes. */
export function docsPathMatcher(paths: DocsPaths = DEFAULT_PATHS): (path: string) => boolean {
  const { swagger, redoc, openapi } = paths;
  return (path) => path === openapi || path.startsWith(swagger) || path.startsWith(redoc);
}

/**
 * Serves the OpenAPI JSON, a Swagger UI page (from swagger-ui-dist) and a ReDoc page (from
 * redoc's standalone bundle) at `server.docs.paths`: no CDN, no external request (the online
 * validator badge is off). Swagger UI's "Authorize" offers the document's securitySchemes.
 */
export function docsRoutes(document: OpenApiDocument, options: { enabled: boolean; title: string; paths?: DocsPaths }) {
  const paths = options.paths ?? DEFAULT_PATHS;
  const json = JSON.stringify(document);
  const swaggerDir = dirname(require.resolve('swagger-ui-dist/package.json'));
  const redocDir = dirname(require.resolve('redoc/package.json'));
  const cache = new Map<string, Buffer>();
  const title = escapeHtml(options.title);
  const s = paths.swagger;
  const r = paths.redoc;
  const swaggerPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${s}/swagger-ui.css"><link rel="icon" href="data:,"></head>
<body><div id="swagger-ui"></div>
<script src="${s}/swagger-ui-bundle.js"></script>
<script src="${s}/swagger-ui-standalone-preset.js"></script>
<script src="${s}/init.js"></script>
</body></html>`;
  const swaggerInit = `window.ui = SwaggerUIBundle({ url: ${JSON.stringify(paths.openapi)}, dom_id: '#swagger-ui', `
    + 'validatorUrl: null, deepLinking: true, persistAuthorization: true, '
    + "presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });";
  const redocPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style></head>
<body><div id="redoc"></div>
<script src="${r}/redoc.standalone.js"></script>
<script src="${r}/init.js"></script>
</body></html>`;
  const redocInit = `Redoc.init(${JSON.stringify(paths.openapi)}, { hideDownloadButton: false }, document.getElementById('redoc'));`;

  async function asset(ctx: Context, dir: string, entry: [string, string] | undefined): Promise<boolean> {
    if (!entry) return false;
    const [file, type] = entry;
    const key = join(dir, file);
    let data = cache.get(key);
    if (!data) {
      data = await readFile(key);
      cache.set(key, data);
    }
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = data;
    return true;
  }
  const send = (ctx: Context, type: string, body: string) => { ctx.type = type; ctx.body = body; return true; };

  return async function serveDocs(ctx: Context): Promise<boolean> {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return false;
    const path = ctx.path;
    if (path === paths.openapi) return send(ctx, 'application/json', json);
    if (!options.enabled) return false;
    if (path === s || path.startsWith(`${s}/`)) ctx.state.csp = DOCS_CSP;
    if (path === r || path.startsWith(`${r}/`)) ctx.state.csp = REDOC_CSP;
    if (path === s || path === `${s}/`) return send(ctx, 'text/html; charset=utf-8', swaggerPage);
    if (path === `${s}/init.js`) return send(ctx, JS, swaggerInit);
    if (path === r || path === `${r}/`) {
      return send(ctx, 'text/html; charset=utf-8', redocPage);
    }
    if (path === `${r}/init.js`) return send(ctx, JS, redocInit);
    if (path.startsWith(`${s}/`)) {
      const name = path.slice(s.length + 1);
      return asset(ctx, swaggerDir, Object.hasOwn(SWAGGER_ASSETS, name) ? SWAGGER_ASSETS[name] : undefined);
    }
    if (path.startsWith(`${r}/`)) {
      const name = path.slice(r.length + 1);
      return asset(ctx, redocDir, Object.hasOwn(REDOC_ASSETS, name) ? REDOC_ASSETS[name] : undefined);
    }
    return false;
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
