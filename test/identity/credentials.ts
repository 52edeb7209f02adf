import * as assert from 'uvu/assert';
import { request } from '../helpers/kernel.ts';
import type { IdentityKernel } from './helpers.ts';

// RFC 7636 Appendix B.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const APP = 'https://app.example.com/callback';

/** Mints each kind of credential a principal can come from, on a kernel running identity and oauth. */
export function credentials(k: IdentityKernel) {
  const form = (path: string, params: Record<string, string>, auth?: string) => request(k.url, 'POST', path, {
    raw: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
  });
  const basic = (id: string, secret: string) =>
    `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

  return {
    /** An API key of the session's user, with exactly these scopes. */
    async apiKey(session: string, scopes: string[], extra: Record<string, unknown> = {}): Promise<string> {
      const res = await k.as(session, 'POST', '/v1/users/me/api-keys', { name: `k${scopes.length}`, scopes, ...extra });
      assert.is(res.status, 201, res.text);
      return res.body.key;
    },

    /** A registered OAuth client of the session's user. */
    async client(session: string, scopes: string[]): Promise<{ id: string; secret: string }> {
      const res = await k.as(session, 'POST', '/v1/oauth/clients', { name: 'App', redirectUris: [APP], scopes });
      assert.is(res.status, 201, res.text);
      return { id: res.body.id, secret: res.body.clientSecret };
    },

    /** An OAuth access token acting for the session's user (authorization code + PKCE), with `scope`. */
    async oauthUserToken(session: string, scope: string): Promise<string> {
      const client = await this.client(session, scope.split(' '));
      const res = await fetch(`${k.url}/v1/oauth/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          response_type: 'code',
          client_id: client.id,
          redirect_uri: APP,
          scope,
          code_challenge: CHALLENGE,
          code_challenge_method: 'S256',
          decision: 'approve',
        }),
      });
      assert.is(res.status, 302, await res.text());
      const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
      const token = await form(
        '/v1/oauth/token',
        { grant_type: 'authorization_code', code, redirect_uri: APP, code_verifier: VERIFIER },
        basic(client.id, client.secret),
      );
      assert.is(token.status, 200, token.text);
      return token.body.access_token;
    },

    /** A client-credentials token of a client registered by the session's user. */
    async clientToken(session: string, scope: string): Promise<string> {
      const client = await this.client(session, scope.split(' '));
      const token = await form(
        '/v1/oauth/token',
        { grant_type: 'client_credentials', scope },
        basic(client.id, client.secret),
      );
      assert.is(token.status, 200, token.text);
      return token.body.access_token;
    },

    /** An impersonation session token: `adminSession` acting as user `userId`. */
    async impersonation(adminSession: string, userId: string): Promise<string> {
      const res = await k.as(adminSession, 'POST', `/v1/admin/users/${userId}/impersonate`);
      assert.is(res.status, 200, res.text);
      return res.body.accessToken;
    },
  };
}
