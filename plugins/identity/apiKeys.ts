import type { EntityManager } from '@mikro-orm/core';
import { AppError, beyondHeld, errors, type Cache, type Clock, type Principal } from '../../kernel/index.ts';
import type { ApiKeyRow, UserRow } from './entities.ts';
import { randomToken, sha256 } from './crypto.ts';
import type { AuditLog } from './audit.ts';
import type { RoleCatalog } from './roles.ts';
import type { ClientInfo } from './sessions.ts';
import { apiKeyView } from './views.ts';
import { checksumOk, withChecksum, type KeyMisses } from './keyMisses.ts';

export interface NewKey {
  name: string;
  scopes?: string[];
  mode?: 'live' | 'test';
  expiresAt?: string;
  rateLimit?: { limit: number; windowMs: number };
}

const BASE62 = /[^A-Za-z0-9]/g;
type KeyFacts = {
  id: string;
  userId: string;
  scopes: string[];
  role: string;
  tier: string;
  status: string;
  expiresAt: number | null;
  rateLimit: ApiKeyRow['rateLimit'];
};
/** Cache of key hash -> owner facts, so a request costs no DB read; dropped on revoke and rotate. */
const cacheKey = (hash: string) => `apikey:${hash}`;

/**
 * API keys: `<prefix>_<live|test>_<random><checksum>`, shown once, stored as SHA-256. A new
 * key's scopes are a subset of its *caller's* effective permissions (a key's scopes, an OAuth
 * token's scopes, a session's role), and checked again against the owner's role on every use,
 * so a demoted owner's keys shrink.
 */
export class ApiKeyService {
  constructor(
    private em: EntityManager,
    private cache: Cache,
    private clock: Clock,
    private audit: AuditLog,
    private roles: RoleCatalog,
    private prefix: string,
    private misses: KeyMisses,
    private maxPerUser = 25,
  ) {}

  async create(
    owner: UserRow,
    caller: Pick<Principal, 'permissions'>,
    input: NewKey,
    client: ClientInfo,
    options: { replacing?: boolean } = {},
  ) {
    const scopes =
      input.scopes ??
      caller.permissions.filter(
        (p) => p !== '*' && this.roles.permissionsOf(owner.role).some((o) => o === p || o === '*'),
      );
    const beyond = beyondHeld(caller.permissions, scopes);
    if (beyond.length)
      throw errors.validation([
        { field: 'body.scopes', code: 'scope', message: `not among your permissions: ${beyond.join(', ')}` },
      ]);
    if (input.expiresAt && Date.parse(input.expiresAt) <= this.clock.now()) {
      throw errors.validation([{ field: 'body.expiresAt', code: 'future', message: 'must be in the future' }]);
    }
    if (
      !options.replacing &&
      (await this.em.count('IdentityApiKey', { userId: owner.id, revokedAt: null })) >= this.maxPerUser
    ) {
      throw new AppError(
        409,
        'TOO_MANY_API_KEYS',
        `You may hold at most ${this.maxPerUser} API keys: revoke one first`,
      );
    }
    const mode = input.mode ?? 'live';
    const key = `${this.prefix}_${mode}_${withChecksum(randomToken(32).replace(BASE62, '').slice(0, 32))}`;
    const hash = sha256(key);
    this.misses.forget(hash);
    const row = this.em.create<ApiKeyRow>('IdentityApiKey', {
      userId: owner.id,
      name: input.name,
      start: key.slice(0, this.prefix.length + mode.length + 8),
      hash,
      scopes,
      mode,
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : null,
      lastUsedAt: null,
      revokedAt: null,
      rateLimit: input.rateLimit ?? null,
      createdAt: this.clock.date(),
    } as ApiKeyRow);
    await this.audit.record({
      actorId: owner.id,
      action: 'apikey.created',
      targetType: 'api_key',
      targetId: row.id,
      ...client,
      newValues: { name: row.name, scopes },
    });
    await this.em.flush();
    const view = apiKeyView(row);
    return {
      id: view.id,
      key,
      name: view.name,
      scopes: view.scopes,
      start: view.start,
      mode: view.mode,
      expiresAt: view.expiresAt,
      rateLimit: view.rateLimit,
      createdAt: view.createdAt,
    };
  }

  async list(userId: string) {
    return (
      await this.em.find<ApiKeyRow>('IdentityApiKey', { userId, revokedAt: null }, { orderBy: { createdAt: 'desc' } })
    ).map(apiKeyView);
  }

  async revoke(userId: string, id: string, client: ClientInfo): Promise<void> {
    const row = await this.owned(userId, id);
    row.revokedAt = this.clock.date();
    await this.audit.record({
      actorId: userId,
      action: 'apikey.revoked',
      targetType: 'api_key',
      targetId: id,
      ...client,
    });
    await this.em.flush();
    await this.cache.delete(cacheKey(row.hash));
    this.misses.add(row.hash);
  }

  /** A new secret for the same key settings; the old secret stops working at once. A rotation is a grant too. */
  async rotate(owner: UserRow, caller: Pick<Principal, 'permissions'>, id: string, client: ClientInfo) {
    const row = await this.owned(owner.id, id);
    const beyond = beyondHeld(caller.permissions, row.scopes);
    if (beyond.length)
      throw new AppError(403, 'SCOPE_BEYOND_CALLER', `This key holds permissions you do not: ${beyond.join(', ')}`, {
        details: { beyond },
      });
    const created = await this.create(
      owner,
      caller,
      {
        name: row.name,
        scopes: row.scopes,
        mode: row.mode as 'live' | 'test',
        expiresAt: row.expiresAt ? new Date(row.expiresAt).toISOString() : undefined,
        rateLimit: row.rateLimit ?? undefined,
      },
      client,
      { replacing: true },
    );
    row.revokedAt = this.clock.date();
    await this.audit.record({
      actorId: owner.id,
      action: 'apikey.rotated',
      targetType: 'api_key',
      targetId: id,
      ...client,
      newValues: { replacedBy: created.id },
    });
    await this.em.flush();
    await this.cache.delete(cacheKey(row.hash));
    return created;
  }

  /** The principal behind a presented key, or a 401. */
  async authenticate(key: string): Promise<Principal> {
    // Garbage fails the checksum, a replayed unknown key hits the miss cache: neither reaches the database.
    const invalid = () => errors.unauthorized('The API key is invalid or revoked', 'INVALID_API_KEY');
    if (!checksumOk(key.slice(key.lastIndexOf('_') + 1))) throw invalid();
    const hash = sha256(key);
    if (this.misses.has(hash)) throw invalid();
    const facts =
      (await this.cache.get<KeyFacts>(cacheKey(hash))) ?? (await this.misses.once(hash, () => this.load(hash)));
    if (!facts) throw invalid();
    if (facts.expiresAt !== null && facts.expiresAt <= this.clock.now())
      throw new AppError(401, 'API_KEY_EXPIRED', 'The API key has expired', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    if (facts.status !== 'active') throw errors.unauthorized('The account is not active', 'ACCOUNT_INACTIVE');
    const ownerPermissions = this.roles.permissionsOf(facts.role);
    const permissions = ownerPermissions.includes('*')
      ? facts.scopes
      : facts.scopes.filter((s) => ownerPermissions.includes(s));
    return {
      type: 'user',
      credential: 'apiKey',
      id: facts.userId,
      apiKeyId: facts.id,
      role: facts.role,
      permissions,
      tier: facts.tier,
      // Each key has its own bucket, and all of a user's keys and sessions share the user's budget too.
      rateLimitKey: `key:${facts.id}`,
      budgetKey: `user:${facts.userId}`,
      ...(facts.rateLimit ? { rateLimit: facts.rateLimit } : {}),
    };
  }

  /** Reads a key's facts from the database into the cache, or records the miss. */
  private async load(hash: string): Promise<KeyFacts | undefined> {
    const row = await this.em.findOne<ApiKeyRow>('IdentityApiKey', { hash, revokedAt: null });
    const owner = row ? await this.em.findOne<UserRow>('IdentityUser', { id: row.userId }) : null;
    if (!row || !owner) {
      this.misses.add(hash);
      return undefined;
    }
    const facts: KeyFacts = {
      id: row.id,
      userId: row.userId,
      scopes: row.scopes,
      role: owner.role,
      tier: owner.tier,
      status: owner.status,
      expiresAt: row.expiresAt ? new Date(row.expiresAt).getTime() : null,
      rateLimit: row.rateLimit,
    };
    await this.cache.set(cacheKey(hash), facts, { ttlMs: 60_000 });
    if (!row.lastUsedAt || this.clock.now() - new Date(row.lastUsedAt).getTime() > 60_000) {
      await this.em.nativeUpdate<ApiKeyRow>('IdentityApiKey', { id: row.id }, { lastUsedAt: this.clock.date() });
    }
    return facts;
  }

  private async owned(userId: string, id: string): Promise<ApiKeyRow> {
    const row = await this.em.findOne<ApiKeyRow>('IdentityApiKey', { id, userId, revokedAt: null });
    if (!row) throw errors.notFound('API key not found');
    return row;
  }
}
