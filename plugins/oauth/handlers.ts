import { defineHandlers, reply, rawReply, type RequestContext, type ScopeCradleOf } from '../../kernel/index.ts';
import { GRANT_TYPES, RedirectError, type OAuthService } from './service.ts';
import { NO_STORE, formParams, rfcEndpoint } from './rfc.ts';
import type { Operations } from './contract.gen.ts';
import type { OAuthServices } from './services.ts';

type Services = ScopeCradleOf<OAuthServices>;

/** 302 to the client's redirect URI, the target in the body too (for script callers of the consent API). */
function redirect(to: string) {
  return rawReply(302, { redirectTo: to }, { Location: to, ...NO_STORE });
}

async function authorization<T>(params: Record<string, unknown>, ctx: RequestContext<Services>,
  then: (s: Services, req: Awaited<ReturnType<OAuthService['checkAuthorization']>>) => Promise<T>) {
  const s = ctx.services;
  try {
    return await then(s, await s.oauth.checkAuthorization(ctx.principal, params));
  } catch (e) {
    if (e instanceof RedirectError) return redirect(e.redirectTo);
    throw e;
  }
}

export const handlers = defineHandlers<Operations, OAuthServices>({
  'oauth.token': ({ body, headers }, ctx) => rfcEndpoint(() => ctx.services.oauth.token(formParams(body), headers)),
  'oauth.revoke': ({ body, headers }, ctx) => rfcEndpoint(() => ctx.services.oauth.revoke(formParams(body), headers)),
  'oauth.introspect': ({ body, headers }, ctx) =>
    rfcEndpoint(() => ctx.services.oauth.introspect(formParams(body), headers)),

  'oauth.authorizeInfo': ({ query }, ctx) =>
    authorization(query, ctx, async (s, req) => reply(200, s.oauth.consent(req), { ...NO_STORE })),
  'oauth.authorizeDecision': ({ body }, ctx) =>
    authorization(body, ctx, async (s, req) => redirect(await s.oauth.decide(req, body.decision))),

  'oauth.metadata': (_req, ctx) => {
    const { config, identityTokens, permissionCatalog, kernelInfo } = ctx.services;
    // Koa 3's `ctx.origin` is the Origin request header, not the server's origin: build it.
    const origin = (config.publicBaseUrl || `${ctx.koa.protocol}://${ctx.koa.host}`).replace(/\/+$/, '');
    const api = `${origin}${kernelInfo.basePath}/oauth`;
    // Built from the Host header (development only), the document must never be shared by a cache.
    if (config.publicBaseUrl) ctx.koa.set('Cache-Control', 'public, max-age=3600');
    else ctx.koa.set({ 'Cache-Control': 'no-store', Vary: 'Host' });
    const auth = ['client_secret_basic', 'client_secret_post'];
    return rawReply(200, {
      issuer: identityTokens.issuer,
      authorization_endpoint: `${api}/authorize`,
      token_endpoint: `${api}/token`,
      revocation_endpoint: `${api}/revoke`,
      introspection_endpoint: `${api}/introspect`,
      jwks_uri: `${origin}/.well-known/jwks.json`,
      scopes_supported: [...new Set(permissionCatalog.map((p) => p.name))],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: [...GRANT_TYPES],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: [...auth, 'none'],
      revocation_endpoint_auth_methods_supported: [...auth, 'none'],
      introspection_endpoint_auth_methods_supported: auth,
      authorization_response_iss_parameter_supported: true,
    });
  },

  'oauth.listClients': (_req, ctx) => ctx.services.clients.list(ctx.principal),
  'oauth.createClient': async ({ body }, ctx) => reply(201, await ctx.services.clients.create(ctx.principal, body)),
  'oauth.getClient': ({ params }, ctx) => ctx.services.clients.get(ctx.principal, params.id),
  'oauth.deleteClient': async ({ params }, ctx) => {
    await ctx.services.clients.delete(ctx.principal, params.id);
    return reply(204);
  },
});
