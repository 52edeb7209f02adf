/**
 * Users' own vendor keys (seed 000): stored sealed (the kernel's `secrets`: AES-256-GCM envelope, KEKs from config,
 * rotatable), shown only as a hint, tested with a one-token call through the vendor's adapter, and handed to the
 * gateway as `userKey` so the call is metered, not charged.
 */
import {
  AppError, errors, isAiError, records, unscoped, type AiProviders, type Clock, type IdGenerator, type Principal,
  type RecordsCradle, type Secrets,
} from '../../kernel/index.ts';
import type { ModelCatalog, UserKeyResolver } from '../ai/api.ts';
import type { MikroORM } from '@mikro-orm/core';
import { AiCredential, type AiCredentialRow } from './entities.ts';
import type { DefaultKeyMisses } from './keyMisses.ts';

export interface CredentialView {
  id: string; vendor: string; label: string; hint: string; isDefault: boolean;
  lastUsedAt: string | null; lastTestedAt: string | null; lastTestOk: boolean | null; createdAt: string;
}

export interface TestOutcome {
  ok: boolean; model?: string; latencyMs?: number;
  error?: { kind: string; vendorStatus: number | null; message: string };
}

/** The key of a credential, ready for a gateway call (`userKey`). */
export interface UserKey { credentialId: string; provider: string; apiKey: string }

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);
/** Sealed values open only with this context: a row's key cannot be moved to another row or owner. */
export const sealContext = (ownerId: string, id: string) => `aiapi.credential:${ownerId}:${id}`;
const hintOf = (key: string) => `...${key.slice(-4)}`;

function view(row: AiCredentialRow): CredentialView {
  return {
    id: row.id, vendor: row.vendor, label: row.label, hint: row.hint, isDefault: row.isDefault,
    lastUsedAt: iso(row.lastUsedAt), lastTestedAt: iso(row.lastTestedAt), lastTestOk: row.lastTestOk ?? null,
    createdAt: iso(row.createdAt)!,
  };
}

export interface CredentialsCradle extends RecordsCradle {
  principal: Principal | undefined;
  secrets: Secrets;
  ids: IdGenerator;
  clock: Clock;
  aiProvider: AiProviders;
  modelCatalog: ModelCatalog;
  defaultKeyMisses?: DefaultKeyMisses;
  credentialKeys: CredentialKeys;
}

export class Credentials {
  private readonly rows;

  constructor(private readonly c: CredentialsCradle) {
    this.rows = records(c, AiCredential, { view });
  }

  private get ownerId(): string {
    if (!this.c.principal?.id) throw errors.unauthorized();
    return this.c.principal.id;
  }

  list(): Promise<CredentialView[]> {
    return this.rows.all({}, { orderBy: 'createdAt', order: 'desc' });
  }

  async create(input: { vendor: string; label?: string; apiKey: string; isDefault?: boolean }):
    Promise<CredentialView> {
    const ai = this.c.aiProvider;
    if (!ai.has(input.vendor) || ai.get(input.vendor).adapter === 'local') {
      const vendors = ai.names().filter((n) => ai.get(n).adapter !== 'local');
      throw errors.validation([{
        field: 'body.vendor', code: 'vendor',
        message: vendors.length
          ? `not a vendor this deployment calls; one of: ${vendors.join(', ')}`
          : 'this deployment calls no vendor that takes a key (only the local stand-in)',
      }]);
    }
    const key = input.apiKey.trim();
    if (input.isDefault) await this.clearDefault(input.vendor);
    const id = this.c.ids.next();
    const created = await this.rows.create({
      id, vendor: input.vendor, label: input.label ?? input.vendor, isDefault: input.isDefault ?? false,
      sealedKey: this.c.secrets.seal(key, sealContext(this.ownerId, id)), hint: hintOf(key),
    });
    this.c.defaultKeyMisses?.drop(this.ownerId); // committed: this instance sees the new default at once
    return created;
  }

  delete(id: string): Promise<void> {
    return this.rows.delete(id);
  }

  /** One output token on the vendor's cheapest text model, with this key. Never throws for the vendor's refusal. */
  async test(id: string): Promise<TestOutcome> {
    const row = await this.rows.load(id);
    const model = await this.cheapestModel(row.vendor);
    const started = this.c.clock.now();
    let outcome: TestOutcome;
    try {
      await this.c.aiProvider.get(row.vendor).chat(
        { model: model.vendorModel, messages: [{ role: 'user', content: 'ping' }], maxTokens: 1 },
        { apiKey: this.open(row), timeoutMs: 15_000 },
      );
      outcome = { ok: true, model: model.id, latencyMs: Math.round(this.c.clock.now() - started) };
    } catch (e) {
      if (!isAiError(e)) throw e;
      outcome = {
        ok: false, model: model.id,
        error: { kind: e.kind, vendorStatus: e.vendorStatus ?? null, message: e.message },
      };
    }
    row.lastTestedAt = new Date(this.c.clock.now());
    row.lastTestOk = outcome.ok;
    await this.c.em.flush();
    return outcome;
  }

  /**
   * The key a call to `provider` uses: the named credential (404 when not the caller's, 400 when it is for another
   * vendor), else the caller's default for that vendor, else none (the deployment's key, charged).
   */
  keyFor(provider: string, credentialId?: string): Promise<UserKey | undefined> {
    return this.c.credentialKeys.resolve(this.ownerId, { provider, credentialId });
  }

  private open(row: AiCredentialRow): string {
    return this.c.secrets.open(row.sealedKey, sealContext(row.ownerId, row.id));
  }

  private async clearDefault(vendor: string): Promise<void> {
    const current = await this.rows.first({ vendor, isDefault: true });
    if (current) current.isDefault = false;
  }

  private async cheapestModel(vendor: string) {
    const models = (await this.c.modelCatalog.list())
      .filter((m) => m.provider === vendor && m.type === 'text' && m.status === 'active')
      .sort((a, b) => a.inputMicrosPer1M + a.outputMicrosPer1M - (b.inputMicrosPer1M + b.outputMicrosPer1M));
    if (!models.length) {
      throw new AppError(400, 'NO_MODEL_FOR_VENDOR', `No active text model in the catalog is served by ${vendor}`);
    }
    return models[0];
  }
}

/**
 * The one lookup of a user's key, for `/v1` (`Credentials.keyFor`) and for the resolver aiapi registers into the ai
 * plugin's `aiUserKeys` (chats and `ai.generate.*` jobs). It takes the user's id (a job has no request), so it reads
 * outside the request's owner scope and filters by owner itself. That a user has no default key for a vendor (the
 * common case) is remembered a few seconds (keyMisses.ts).
 */
export class CredentialKeys implements UserKeyResolver {
  constructor(private readonly orm: MikroORM, private readonly secrets: Secrets, private readonly clock: Clock,
    private readonly misses?: DefaultKeyMisses) {}

  async resolve(userId: string, o: { provider?: string; credentialId?: string }): Promise<UserKey | undefined> {
    // A remembered absence reads nothing: no fork for it (`unscoped` forks).
    if (!o.credentialId && o.provider && this.misses?.has(userId, o.provider)) return undefined;
    const em = unscoped(this.orm.em);
    let row: AiCredentialRow | null = null;
    if (o.credentialId) {
      row = await em.findOne<AiCredentialRow>('AiCredential', { id: o.credentialId, ownerId: userId });
      if (!row) throw new AppError(404, 'CREDENTIAL_NOT_FOUND', `No credential ${o.credentialId}`);
      if (o.provider && row.vendor !== o.provider) throw vendorMismatch(row.id, row.vendor, o.provider);
    } else if (o.provider) {
      const mark = this.misses?.mark() ?? 0;
      row = await em.findOne<AiCredentialRow>('AiCredential', { ownerId: userId, vendor: o.provider,
        isDefault: true });
      if (!row) this.misses?.add(userId, o.provider, mark);
    }
    if (!row) return undefined;
    await em.nativeUpdate<AiCredentialRow>('AiCredential', { id: row.id }, { lastUsedAt: new Date(this.clock.now()) });
    return { credentialId: row.id, provider: row.vendor,
      apiKey: this.secrets.open(row.sealedKey, sealContext(row.ownerId, row.id)) };
  }
}

function vendorMismatch(id: string, vendor: string, provider: string): AppError {
  return new AppError(400, 'CREDENTIAL_VENDOR_MISMATCH',
    `Credential ${id} is a ${vendor} key; this model is served by ${provider}`,
    { details: { credentialVendor: vendor, provider } });
}

/** At boot: keys sealed under a retired KEK are sealed again under the active one (finishes a rotation). */
export async function resealCredentials(orm: MikroORM, secrets: Secrets): Promise<number> {
  const em = unscoped(orm.em.fork());
  const rows = await em.find<AiCredentialRow>('AiCredential', {
    $not: { sealedKey: { $like: `sk1.${secrets.activeKeyId}.%` } },
  });
  for (const row of rows) {
    const context = sealContext(row.ownerId, row.id);
    row.sealedKey = secrets.seal(secrets.open(row.sealedKey, context), context);
  }
  await em.flush();
  return rows.length;
}
