/** Builds a full AiProvider from the capabilities an adapter implements; the rest throw `unsupported`. */
import {
  AiError, type AiCapability, type AiProvider, type AiProviders,
} from '../../../kernel/ports/aiProvider.ts';

type Methods = Omit<AiProvider, 'name' | 'adapter' | 'capabilities' | 'countTokens'>;

export interface ProviderParts extends Partial<Methods> {
  name: string;
  adapter: string;
  countTokens: AiProvider['countTokens'];
  /** Narrows what the implemented methods suggest (a vendor without embeddings, say). */
  disabled?: AiCapability[];
}

const METHOD_OF: Record<AiCapability, keyof Methods> = {
  chat: 'chat', stream: 'stream', structured: 'structured', embeddings: 'embed', images: 'image',
  transcription: 'transcribe', moderation: 'moderate',
};

export function buildProvider(parts: ProviderParts): AiProvider {
  const caps = new Set<AiCapability>();
  for (const [cap, method] of Object.entries(METHOD_OF) as Array<[AiCapability, keyof Methods]>) {
    if (parts[method] && !parts.disabled?.includes(cap)) caps.add(cap);
  }
  const unsupported = (cap: AiCapability) => () => {
    throw new AiError(
      'unsupported',
      parts.name,
      `Provider "${parts.name}" (${parts.adapter}) has no ${cap} capability`,
    );
  };
  const pick = <K extends keyof Methods>(cap: AiCapability, key: K): Methods[K] =>
    (caps.has(cap) ? parts[key]! : unsupported(cap)) as Methods[K];
  const streamOf = caps.has('stream') ? parts.stream! : (() => ({
    // eslint-disable-next-line require-yield
    async *[Symbol.asyncIterator]() { unsupported('stream')(); },
  })) as Methods['stream'];
  return {
    name: parts.name,
    adapter: parts.adapter,
    capabilities: caps,
    chat: pick('chat', 'chat'),
    stream: streamOf,
    structured: pick('structured', 'structured'),
    embed: pick('embeddings', 'embed'),
    image: pick('images', 'image'),
    transcribe: pick('transcription', 'transcribe'),
    moderate: pick('moderation', 'moderate'),
    countTokens: parts.countTokens,
  };
}

/** A registry over providers; `moderation` names the one used for moderation. */
export function registryOf(providers: AiProvider[], moderation?: string): AiProviders {
  const byName = new Map(providers.map((p) => [p.name, p]));
  return {
    names: () => [...byName.keys()],
    has: (name) => byName.has(name),
    get(name) {
      const p = byName.get(name);
      if (!p) {
        const known = [...byName.keys()].join(', ');
        throw new AiError('unsupported', name, `Unknown AI provider "${name}" (configured: ${known})`);
      }
      return p;
    },
    moderator: () =>
      (moderation ? byName.get(moderation) : undefined) ?? providers.find((p) => p.capabilities.has('moderation')),
  };
}
