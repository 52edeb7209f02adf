import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import identity from '../../plugins/identity/index.ts';
import oauth from '../../plugins/oauth/index.ts';
import { bootCustom } from '../helpers/custom.ts';
import { request, type TestResponse } from '../helpers/kernel.ts';
import { CONTRACTS_DIR } from '../../scripts/paths.ts';
import type { Kernel } from '../../kernel/boot.ts';

export const ADMIN = { email: 'root@example.com', password: 'Root#Passw0rd' };
export const PASSWORD = 'Passw0rd!x';
export const APP = 'https://app.example.com/callback';

let seq = 0;
export const email = (tag: string) => `${tag}-${Date.now().toString(36)}-${seq++}@example.com`;
const contract = (name: string) => parse(readFileSync(resolve(CONTRACTS_DIR, `${name}.yaml`), 'utf8'));

export interface User { id: string; token: string }
export interface Client { id: string; secret?: string }

export interface OAuthKernel {
  kernel: Kernel;
  url: string;
  as(token: string | undefined, method: string, path: string, body?: unknown): Promise<TestResponse>;
  /** A form-encoded POST; `auth` is the Authorization header. */
  form(path: string, params: Record<string, string> | string, auth?: string): Promise<TestResponse>;
  /** A request that does not follow redirects. */
  noFollow(
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<TestResponse & { location: string | null }>;
  signup(tag: string): Promise<User>;
  admin(): Promise<string>;
  client(owner: User, input?: Record<string, unknown>): Promise<Client>;
  stop(): Promise<void>;
}

export function basic(id: string, secret: string): string {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

export async function startOAuth(oauthConfig: Record<string, unknown> = {}): Promise<OAuthKernel> {
  const kernel = await bootCustom({
    plugins: [identity, oauth],
    contracts: { identity: contract('identity'), oauth: contract('oauth') },
    config: {
      rateLimit: { tiers: { free: 100000, premium: 100000, enterprise: 100000 } },
      plugins: { identity: { bootstrapAdmin: ADMIN }, oauth: oauthConfig },
    },
  }).catch((e) => {
    // uvu swallows errors thrown in hooks: print it so a failed boot is diagnosable.
    console.error('oauth kernel failed to boot:', e);
    throw e;
  });
  const address = await kernel.listen();
  const url = `http://127.0.0.1:${address.port}`;
  const as: OAuthKernel['as'] = (token, method, path, body) =>
    request(url, method, path, { body, headers: token ? { authorization: `Bearer ${token}` } : {} });
  let adminToken: string | undefined;
  const k: OAuthKernel = {
    kernel,
    url,
    as,
    form: (path, params, auth) => request(url, 'POST', path, {
      raw: typeof params === 'string' ? params : new URLSearchParams(params).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
    }),
    async noFollow(method, path, token, body) {
      const res = await fetch(url + path, {
        method, redirect: 'manual',
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      let parsed: unknown;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
      return { status: res.status, headers: res.headers, text, body: parsed, location: res.headers.get('location') };
    },
    async signup(tag) {
      const address = email(tag);
      const reg = await as(undefined, 'POST', '/v1/auth/register', { name: tag, email: address, password: PASSWORD });
      assert.is(reg.status, 201, reg.text);
      const login = await as(undefined, 'POST', '/v1/auth/login', { email: address, password: PASSWORD });
      assert.is(login.status, 200, login.text);
      return { id: reg.body.id, token: login.body.accessToken };
    },
    async admin() {
      if (!adminToken) {
        const login = await as(undefined, 'POST', '/v1/auth/login', { email: ADMIN.email, password: ADMIN.password });
        assert.is(login.status, 200, login.text);
        adminToken = login.body.accessToken as string;
      }
      return adminToken;
    },
    async client(owner, input = {}) {
      const res = await as(owner.token, 'POST', '/v1/oauth/clients', {
        name: 'App',
        redirectUris: [APP],
        scopes: ['profile:read', 'oauth:clients:manage'],
        ...input,
      });
      assert.is(res.status, 201, res.text);
      return { id: res.body.id, secret: res.body.clientSecret };
    },
    stop: () => kernel.stop(),
  };
  return k;
}

/**
 * An RFC 6749 §5.2 error body: `error` is a string (never the kernel's error object), and the
 * response is not cached.
 */
export function assertOAuthError(res: TestResponse, status: number, error: string): void {
  assert.is(res.status, status, `expected ${status} ${error}, got ${res.status}: ${res.text.slice(0, 300)}`);
  assert.type(res.body?.error, 'string', `RFC-shaped error expected: ${res.text.slice(0, 300)}`);
  assert.is(res.body.error, error, res.body.error_description);
  assert.type(res.body.error_description, 'string');
  assert.is(res.headers.get('cache-control'), 'no-store');
  assert.is(res.headers.get('pragma'), 'no-cache');
}
