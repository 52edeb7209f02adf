/**
 * Users' own vendor keys as the ai plugin sees them (exported as `aiUserKeys`): a registry with at most one
 * resolver, which the plugin that stores the keys (aiapi) registers in its `onStart`. Without one, no call uses
 * a user's key. `keyForCall` picks the key a chat turn or a job uses: the credential it names, else the user's
 * default key for the vendor of the model the call would be routed to.
 */
import { AppError, type Principal } from '../../kernel/index.ts';
import type {
  AiModel, ModelCatalog, ModelType, Router, TaskType, UserKey, UserKeyRegistry, UserKeyResolver,
} from './api.ts';

export class UserKeys implements UserKeyRegistry {
  private resolver: UserKeyResolver | undefined;

  register(resolver: UserKeyResolver): void {
    if (this.resolver) throw new Error('a user-key resolver is registered twice');
    this.resolver = resolver;
  }

  get(): UserKeyResolver | undefined {
    return this.resolver;
  }
}

export interface KeyDeps {
  aiUserKeys: UserKeyRegistry; modelCatalog: ModelCatalog; aiRouter: Router;
  /** The user's saved preferred model (the router's second choice), when the call names none. */
  preference?: (userId: string) => Promise<string | undefined>;
}

export interface KeyedCall {
  model?: string; preference?: string; context?: string; task?: TaskType; text?: string;
  /** What the call makes (default `text`): the router picks among models of that type. */
  type?: ModelType;
  /** The credential the request names (`credential_id`). */
  credentialId?: string;
}

/**
 * The user's key for a call, or undefined (the deployment's key: charged). A named credential that is not the
 * user's (or deleted) is a 404, one for another vendor than the named model's a 400 (the resolver's errors).
 * Without a named one, the default key for the vendor the router picks; a refusal of the route itself is left to
 * the gateway, which routes again and answers it.
 */
export async function keyForCall(d: KeyDeps, principal: Principal, c: KeyedCall): Promise<UserKey | undefined> {
  const resolver = d.aiUserKeys.get();
  const userId = principal.id;
  if (!resolver) {
    if (c.credentialId) throw new AppError(404, 'CREDENTIAL_NOT_FOUND', `No credential ${c.credentialId}`);
    return undefined;
  }
  const named = c.model ? await d.modelCatalog.find(c.model) : undefined;
  if (c.credentialId) return resolver.resolve(userId, { credentialId: c.credentialId, provider: named?.provider });
  const model = named ?? await routed(d, principal, c);
  return model ? resolver.resolve(userId, { provider: model.provider }) : undefined;
}

async function routed(d: KeyDeps, principal: Principal, c: KeyedCall): Promise<AiModel | undefined> {
  try {
    const preference = c.preference ?? await d.preference?.(principal.id);
    const plan = await d.aiRouter.route({ model: c.model, preference, context: c.context, task: c.task,
      text: c.text, tier: d.modelCatalog.tierOf(principal), type: c.type ?? 'text' });
    return plan.model;
  } catch {
    return undefined;
  }
}
