import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { definePlugin, defineHandlers, defineServices, rawReply } from '../../kernel/index.ts';
import type { BillingExports } from '../billing/api.ts';
import type { IdentityExports } from '../identity/api.ts';
import type { Operations } from './contract.gen.ts';
import { hubUsers } from './users.ts';

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');
const CHART_JS = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
/** The page loads only its own files: no inline script, no CDN. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
  + "frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

const services = defineServices<{ requires: BillingExports & IdentityExports }>()
  .singleton('pages', ({ kernelInfo }) => {
    const html = readFileSync(join(PAGE_DIR, 'index.html'), 'utf8').replace('{{basePath}}', kernelInfo.basePath);
    const assets: Record<string, { type: string; body: string }> = {
      'app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(PAGE_DIR, 'app.js'), 'utf8') },
      'style.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(PAGE_DIR, 'style.css'), 'utf8') },
      'chart.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(CHART_JS, 'utf8') },
    };
    return { html, assets };
  });

/**
 * Seed 001's thin seed plugin: the usage dashboard at `/dashboard` (served at the root). It holds no
 * data: the page signs in and reads the tools plugin's invocation summary, history and platform
 * statistics. It also serves seed 001's admin user list, with each user's subscription (FR-026), in
 * place of identity's (the deployment excludes `identity.adminListUsers`).
 */
export default definePlugin({
  name: 'toolhub',
  version: '1.0.0',
  description: "Seed 001's usage dashboard page.",
  requires: ['tools', 'billing', 'identity'],
  services,
  handlers: defineHandlers<Operations, typeof services>({
    'toolhub.dashboard': (_req, { services, koa }) => {
      koa.state.csp = PAGE_CSP;
      return rawReply(200, services.pages.html, { 'content-type': 'text/html; charset=utf-8' });
    },
    'toolhub.adminUsers': ({ query }, { services }) =>
      hubUsers(query, services.identityUsers, services.subscriptions),
    'toolhub.asset': ({ params }, { services }) => {
      const asset = services.pages.assets[params.file];
      return rawReply(200, asset.body, { 'content-type': asset.type, 'cache-control': 'public, max-age=300' });
    },
  }),
});
