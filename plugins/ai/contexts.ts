/** The registry of chat context providers (exported as `aiContexts`): one provider per context kind. */
import type { ContextProvider, ContextRegistry } from './api.ts';

export class Contexts implements ContextRegistry {
  private providers = new Map<string, ContextProvider>();

  register(provider: ContextProvider): void {
    if (!/^[a-z][a-z0-9_-]{0,49}$/.test(provider.kind)) {
      throw new Error(`context kind "${provider.kind}" must be 1-50 lower-case letters, digits, - or _`);
    }
    if (this.providers.has(provider.kind)) throw new Error(`context kind "${provider.kind}" is registered twice`);
    this.providers.set(provider.kind, provider);
  }

  get(kind: string): ContextProvider | undefined {
    return this.providers.get(kind);
  }

  kinds(): string[] {
    return [...this.providers.keys()];
  }
}
