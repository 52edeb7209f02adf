/** Builds a full AiProvider from the capabilities an adapter implements; the rest throw `unsupported`. */
import {
  AiError, isAiError, type AiCapability, type AiProvider, type AiProviders,
} from '../../../kernel/ports/aiProvider.ts';
import type { AdapterLifecycle } from '../../../kernel/ports/adapter.ts';
import { systemClock, type Clock } from '../../../kernel/ports/clock.ts';
import { Breaker, type BreakerOptions } from './breaker.ts';

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

/** Calls through the breaker: a retryable failure counts, a success closes, an abort is neither. */
function guarded(p: AiProvider, breaker: Breaker): AiProvider {
  const track = <T>(run: () => Promise<T>): Promise<T> => {
    breaker.begin();
    return run().then(
      (v) => { breaker.success(); return v; },
      (e) => { if (isAiError(e) && e.kind === 'aborted') breaker.settle(); else breaker.failure(e); throw e; },
    );
  };
  return {
    ...p,
    chat: (r, o) => track(() => p.chat(r, o)),
    structured: (r, o) => track(() => p.structured(r, o)),
    embed: (r, o) => track(() => p.embed(r, o)),
    image: (r, o) => track(() => p.image(r, o)),
    transcribe: (r, o) => track(() => p.transcribe(r, o)),
    moderate: (r, o) => track(() => p.moderate(r, o)),
    stream: (r, o) => (async function* () {
      breaker.begin();
      let settled = false;
      try {
        for await (const e of p.stream(r, o)) {
          if (e.type === 'done') { breaker.success(); settled = true; }
          yield e;
        }
      } catch (err) {
        settled = true;
        if (isAiError(err) && err.kind === 'aborted') breaker.settle(); else breaker.failure(err);
        throw err;
      } finally {
        // The consumer left early: the vendor answered, which is a success for the circuit.
        if (!settled) breaker.success();
      }
    })(),
  };
}

export interface RegistryOptions {
  /** Provider used for moderation; default `defaultModerator`, else the first with the capability. */
  moderation?: string;
  /** The moderator when `moderation` names none (the gateway adapter passes the local rules). */
  defaultModerator?: AiProvider;
  breaker?: BreakerOptions;
  clock?: Clock;
}

/** A registry over providers, each behind its own circuit breaker. */
export function registryOf(providers: AiProvider[], o: RegistryOptions = {}): AiProviders & AdapterLifecycle {
  const clock = o.clock ?? systemClock;
  const entries = new Map(providers.map((p) => {
    const breaker = new Breaker(p.name, clock, o.breaker);
    return [p.name, { provider: guarded(p, breaker), breaker }];
  }));
  const get = (name: string) => {
    const e = entries.get(name);
    if (!e) {
      const known = [...entries.keys()].join(', ');
      throw new AiError('unsupported', name, `Unknown AI provider "${name}" (configured: ${known})`);
    }
    return e;
  };
  const all = () => [...entries.values()];
  return {
    names: () => [...entries.keys()],
    has: (name) => entries.has(name),
    get: (name) => get(name).provider,
    moderator: () => (o.moderation ? entries.get(o.moderation)?.provider : undefined) ?? o.defaultModerator
      ?? all().find((e) => e.provider.capabilities.has('moderation'))?.provider,
    available: (name) => get(name).breaker.allows(),
    circuits: () => all().map((e) => e.breaker.health()),
    degraded: () => all().filter((e) => e.breaker.state() !== 'closed').map((e) => `aiProvider.${e.provider.name}`),
  };
}
