import type { EntityManager } from '@mikro-orm/core';
import { AppError, beyondHeld, errors, type Clock, type ErrorDetail, type Principal } from '../../kernel/index.ts';
import type { ClientRow, ClientType } from './entities.ts';
import type { OAuthConfig } from './config.ts';
import type { IdentityTokens } from '../identity/api.ts';
import type { TokenStore } from './store.ts';
import { constantTimeEqual, randomToken, sha256 } from './crypto.ts';
import { OAuthError, invalidClient, isWildcard } from './rfc.ts';

export interface NewClient { name: string; type?: ClientType; redirectUris?: string[]; scopes: string[] }
export type PermissionCatalog = Array<{ name: string; description: string }>;
export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';
export interface AuthenticatedClient {
  client: ClientRow;
  method: AuthMethod;
  owner: { role: string; tier: string; permissions: string[] };
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Compared with when the client is unknown, so the answer takes the same time. */
const DECOY_HASH = sha256(randomToken(32));

/** Why a redirect URI cannot be registered, or undefined when it can. */
export function redirectUriProblem(uri: string): string | undefined {
  if (uri.includes('#')) return 'must not contain a fragment';
  if (/[\s*]/.test(uri)) return 'must not contain spaces or wildcards';
  let url: URL;
  try { url = new URL(uri); } catch { return 'is not an absolute URL'; }
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol === 'https:') return url.hostname ? undefined : 'needs a host';
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return undefined;
  return 'must use https (http only on localhost, 127.0.0.1 or [::1])';
}

export function clientView(c: ClientRow) {
  return {
    id: c.id, clientId: c.id, name: c.name, type: c.type, redirectUris: [...c.redirectUris], scopes: [...c.scopes],
    createdAt: new Date(c.createdAt).toISOString(),
  };
}

/** `application/x-www-form-urlencoded` decoding of a Basic credential part (RFC 6749 §2.3.1). */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/** Only the signed-in user (a session, an API key, or an app acting for them) manages their clients. */
function ownerOf(principal: Principal | undefined): string {
  if (!principal || principal.type !== 'user')
    throw errors.forbidden('Only a user can manage OAuth clients');
  return principal.id;
}

/** Registration and management of a user's clients, and client authentication at the token endpoints. */
export class ClientService {
  constructor(
    private em: EntityManager,
    private clock: Clock,
    private identity: IdentityTokens,
    private store: TokenStore,
    private catalog: PermissionCatalog,
    private config: OAuthConfig,
  ) {}

  async list(principal: Principal | undefined) {
    const rows = await this.em.find<ClientRow>(
      'OAuthClient',
      { ownerId: ownerOf(principal) },
      { orderBy: { createdAt: 'desc', id: 'desc' } },
    );
    return { data: rows.map(clientView) };
  }

  async get(principal: Principal | undefined, id: string) {
    return clientView(await this.owned(principal, id));
  }

  async create(principal: Principal | undefined, input: NewClient) {
    const ownerId = ownerOf(principal);
    const held = principal!.permissions;
    const type: ClientType = input.type ?? 'confidential';
    const redirectUris = [...new Set(input.redirectUris ?? [])];
    const problems: ErrorDetail[] = [];
    redirectUris.forEach((uri, i) => {
      const problem = redirectUriProblem(uri);
      if (problem) problems.push({ field: `body.redirectUris.${i}`, code: 'redirectUri', message: problem });
    });
    if (type === 'public' && !redirectUris.length)
      problems.push({
        field: 'body.redirectUris',
        code: 'minItems',
        message: 'a public client needs at least one redirect URI',
      });
    const known = new Set(this.catalog.map((p) => p.name));
    const scopes = [...new Set(input.scopes)];
    // A client may be allowed at most what its registering caller holds (a key's or token's scopes, a session's role).
    const beyond = new Set(beyondHeld(held, scopes));
    for (const scope of scopes) {
      const allowed =
        SCOPE_TOKEN.test(scope) && scope !== '*' && !beyond.has(scope) && (!isWildcard(held) || known.has(scope));
      if (!allowed)
        problems.push({ field: 'body.scopes', code: 'scope', message: `not among your permissions: ${scope}` });
    }
    if (problems.length) throw errors.validation(problems);
    const count = await this.em.count('OAuthClient', { ownerId });
    if (count >= this.config.maxClientsPerUser)
      throw new AppError(409, 'TOO_MANY_CLIENTS', `You may register at most ${this.config.maxClientsPerUser} clients`);

    const secret = type === 'confidential' ? randomToken(32) : null;
    const row = this.em.create<ClientRow>('OAuthClient', {
      ownerId,
      name: input.name,
      type,
      secretHash: secret ? sha256(secret) : null,
      redirectUris,
      scopes,
    } as ClientRow);
    await this.em.flush();
    return { ...clientView(row), ...(secret ? { clientSecret: secret } : {}) };
  }

  /** Deletes one of the principal's clients; every grant and token issued to it is revoked. */
  async delete(principal: Principal | undefined, id: string): Promise<void> {
    const row = await this.owned(principal, id);
    await this.store.revokeClient(row.id);
    await this.em.remove(row).flush();
  }

  /** A client as the authorization endpoint sees it (any owner), or undefined. */
  async find(id: string): Promise<ClientRow | undefined> {
    if (!id || id.length > 100) return undefined;
    return (await this.em.findOne<ClientRow>('OAuthClient', { id })) ?? undefined;
  }

  async ownerStanding(client: ClientRow) {
    return this.identity.userStanding(client.ownerId);
  }

  /**
   * Client authentication (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, or
   * `client_id` alone for public clients. Exactly one method per request.
   */
  async authenticate(
    params: Record<string, string>,
    headers: Record<string, string | string[] | undefined>,
    options: { allowPublic: boolean },
  ): Promise<AuthenticatedClient> {
    const raw = headers.authorization;
    const authorization = Array.isArray(raw) ? raw[0] : raw;
    let id: string;
    let secret: string | undefined;
    let method: AuthMethod;
    if (authorization) {
      const m = /^Basic[ ]+([A-Za-z0-9+/=]+)[ ]*$/i.exec(authorization);
      if (!m) throw invalidClient('Authenticate with HTTP Basic (client_secret_basic) or client_secret_post', true);
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw invalidClient('Malformed Basic credentials', true);
      try {
        id = formDecode(decoded.slice(0, colon));
        secret = formDecode(decoded.slice(colon + 1)) || undefined;
      } catch {
        throw invalidClient('Malformed Basic credentials', true);
      }
      if (params.client_secret) throw new OAuthError('invalid_request', 'Use only one client authentication method');
      if (params.client_id !== undefined && params.client_id !== id)
        throw invalidClient('client_id does not match the Basic credentials', true);
      method = 'client_secret_basic';
    } else if (params.client_id) {
      id = params.client_id;
      secret = params.client_secret;
      method = secret ? 'client_secret_post' : 'none';
    } else {
      throw invalidClient('Client authentication is required', true);
    }
    const challenge = method === 'client_secret_basic';
    const client = await this.find(id);
    if (!client) {
      constantTimeEqual(sha256(secret ?? ''), DECOY_HASH);
      throw invalidClient('Client authentication failed', challenge);
    }
    if (client.type === 'confidential') {
      if (!secret) throw invalidClient('This client must authenticate with its secret', challenge);
      if (!constantTimeEqual(sha256(secret), client.secretHash ?? DECOY_HASH))
        throw invalidClient('Client authentication failed', challenge);
    } else {
      if (secret) throw invalidClient('A public client has no secret', challenge);
      if (!options.allowPublic) throw invalidClient('This endpoint needs a confidential client', challenge);
    }
    const owner = await this.identity.userStanding(client.ownerId);
    if (!owner) throw invalidClient('The client is disabled', challenge);
    return { client, method: client.type === 'public' ? 'none' : method, owner };
  }

  private async owned(principal: Principal | undefined, id: string): Promise<ClientRow> {
    const row = await this.em.findOne<ClientRow>('OAuthClient', { id, ownerId: ownerOf(principal) });
    if (!row) throw errors.notFound('OAuth client not found');
    return row;
  }
}
