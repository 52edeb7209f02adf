import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Logger } from 'pino';
import type { PluginDefinition } from '../plugin.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/**
 * Declared events: a plugin lists what it publishes (`events: [{ name, schema }]`). Outside
 * production an undeclared publish throws, naming the event and the declared list; in
 * production it is logged (an error line once per event name) and published anyway, so a
 * forgotten declaration never turns a working write into a 500 after a deploy. Payloads are
 * checked against the schema when NODE_ENV=test or KERNEL_VALIDATE_EVENTS=1.
 */
export class UndeclaredEventError extends Error {
  constructor(plugin: string, type: string, declared: string[]) {
    super(`plugin ${plugin} published ${type}, which it does not declare ` +
      `(declared: ${declared.length ? declared.join(', ') : 'none'}); add { name: '${type}', schema } to its events`);
    this.name = 'UndeclaredEventError';
  }
}

export class EventPayloadError extends Error {
  constructor(type: string, problems: string[]) {
    super(`event ${type}: payload does not match its declared schema: ${problems.join('; ')}`);
    this.name = 'EventPayloadError';
  }
}

export const strictEvents = () => process.env.NODE_ENV !== 'production';
export const validateEventPayloads = () =>
  process.env.NODE_ENV === 'test' || process.env.KERNEL_VALIDATE_EVENTS === '1';

function describe(e: ErrorObject): string {
  const path = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '';
  const under = path ? `${path}.` : '';
  if (e.keyword === 'required') return `${under}${String(e.params.missingProperty)} is required`;
  if (e.keyword === 'additionalProperties') return `${under}${String(e.params.additionalProperty)} is not allowed`;
  return `${path || '(payload)'} ${e.message ?? 'is invalid'}`;
}

/** The check run by a plugin's `publish` before an event is staged: declared, and (in tests) well-formed. */
export function eventGuard(
  plugin: PluginDefinition, logger: Logger, options = { strict: strictEvents(), validate: validateEventPayloads() },
) {
  const declared = new Map((plugin.events ?? []).map((e) => [e.name, e]));
  const names = [...declared.keys()];
  const validators = new Map<string, ValidateFunction>();
  let ajv: Ajv2020 | undefined;
  const warned = new Set<string>();
  return (type: string, data: unknown): void => {
    const def = declared.get(type);
    if (!def) {
      if (options.strict) throw new UndeclaredEventError(plugin.name, type, names);
      if (warned.has(type)) return;
      warned.add(type);
      logger.error({ event: type, declared: names }, 'publish of an undeclared event');
      return;
    }
    if (!options.validate || !def.schema) return;
    let validate = validators.get(type);
    if (!validate) {
      ajv ??= addFormats(new Ajv2020({ allErrors: true, strict: false }));
      validate = ajv.compile(def.schema);
      validators.set(type, validate);
    }
    if (!validate(data)) throw new EventPayloadError(type, (validate.errors ?? []).map(describe));
  };
}

/**
 * Boot check: every subscriber listens to an event some enabled plugin declares, and no
 * event is declared twice or outside its plugin's `<name>.` prefix.
 */
export function eventProblems(plugins: PluginDefinition[]): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>();
  for (const p of plugins) {
    for (const e of p.events ?? []) {
      if (!e.name.startsWith(`${p.name}.`)) {
        problems.push(`plugin ${p.name} declares event ${e.name}, which must start with "${p.name}."`);
      }
      if (owner.has(e.name))
        problems.push(`event ${e.name} is declared twice (plugins ${owner.get(e.name)} and ${p.name})`);
      owner.set(e.name, p.name);
    }
  }
  for (const p of plugins) {
    for (const s of p.subscribers ?? []) {
      if (owner.has(s.event)) continue;
      const publisher = s.event.split('.')[0];
      const declared = plugins.find((q) => q.name === publisher)?.events?.map((e) => e.name);
      const hint = declared
        ? `plugin ${publisher} does not declare it (declared: ${declared.join(', ') || 'none'})`
        : `no enabled plugin declares it (is plugin ${publisher} enabled?)`;
      problems.push(`plugin ${p.name}: subscriber ${s.name} listens to ${s.event}, but ${hint}`);
    }
    const hasDatabase = plugins.some((q) => q.entities?.length || q.migrations?.length);
    for (const s of p.subscribers ?? []) {
      if (!s.idempotent || hasDatabase) continue;
      problems.push(
        `plugin ${p.name}: subscriber ${s.name} is idempotent, which needs a database (no enabled plugin has entities)`,
      );
    }
  }
  return problems;
}
