import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { AdapterDefinition, JsonSchema } from '../ports/adapter.ts';
import type { PluginDefinition } from '../plugin.ts';
import { kernelConfigSchema, type KernelConfig } from './schema.ts';
import { ConfigError } from './problems.ts';
import { kernelRules } from './rules.ts';
import { isPlainObject } from './merge.ts';
import { routeControlSchema, splitRouteControl } from './routeControl.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export interface Catalogs {
  /** port name -> adapter name -> definition */
  adapters: Record<string, Record<string, AdapterDefinition>>;
  /** plugin name -> definition */
  plugins: Record<string, PluginDefinition>;
}

function newAjv() {
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false, verbose: true });
  addFormats(ajv);
  return ajv;
}

/**
 * Validates the raw config against the schema assembled from the kernel's, the chosen
 * adapters' and the enabled plugins' schemas. Fills defaults. Throws ConfigError with
 * one line per problem, naming the path and the allowed values.
 */
export function validateConfig(
  raw: Record<string, unknown>,
  catalogs: Catalogs,
  earlier: Array<{ path: string; message: string }> = [],
): KernelConfig {
  const ajv = newAjv();
  const problems: string[] = earlier.map((p) => `${p.path}: ${p.message}`);
  const reported = new Set(earlier.map((p) => p.path));
  const config = structuredClone(raw);
  check(ajv, kernelConfigSchema, config, '', problems);
  problems.push(...kernelRules(config));

  const adapters = (config.adapters ?? {}) as Record<string, unknown>;
  for (const [port, section] of Object.entries(adapters)) {
    const available = catalogs.adapters[port];
    if (!available) {
      problems.push(`adapters.${port}: unknown port (allowed: ${Object.keys(catalogs.adapters).join(', ')})`);
      continue;
    }
    if (!isPlainObject(section) || typeof section.use !== 'string') {
      problems.push(`adapters.${port}.use: required (allowed: ${Object.keys(available).join(', ')})`);
      continue;
    }
    const def = available[section.use];
    if (!def) {
      problems.push(
        `adapters.${port}.use: unknown adapter "${section.use}" (allowed: ${Object.keys(available).join(', ')})`,
      );
      continue;
    }
    const { use, timeoutMs, ...options } = section;
    if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && (timeoutMs as number) > 0)) {
      problems.push(`adapters.${port}.timeoutMs: must be a positive integer (got ${JSON.stringify(timeoutMs)})`);
    }
    check(ajv, def.optionsSchema, options, `adapters.${port}`, problems);
    adapters[port] = { use, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...options };
  }

  const plugins = (config.plugins ?? {}) as Record<string, unknown>;
  for (const [name, section] of Object.entries(plugins)) {
    const def = catalogs.plugins[name];
    if (!def) {
      problems.push(`plugins.${name}: unknown plugin (allowed: ${Object.keys(catalogs.plugins).join(', ')})`);
      continue;
    }
    const value = section === null || section === true ? {} : section;
    if (section === false) {
      plugins[name] = { enabled: false };
      continue;
    }
    if (!isPlainObject(value)) {
      problems.push(`plugins.${name}: must be an object (or true/false)`);
      continue;
    }
    const { enabled = true, ...all } = value;
    const { control, rest: options } = splitRouteControl(all);
    if (typeof enabled !== 'boolean') problems.push(`plugins.${name}.enabled: must be boolean`);
    if (enabled !== false)
      check(ajv, def.config ?? { type: 'object', additionalProperties: false }, options, `plugins.${name}`, problems);
    check(ajv, routeControlSchema, control, `plugins.${name}`, problems);
    plugins[name] = { enabled, ...options, ...control };
  }

  const distinct = problems.filter((p, i) => i < earlier.length || !reported.has(p.slice(0, p.indexOf(':'))));
  if (distinct.length) throw new ConfigError(distinct);
  return config as unknown as KernelConfig;
}

function check(ajv: Ajv2020, schema: JsonSchema, data: unknown, prefix: string, problems: string[]) {
  const validate = ajv.compile(schema);
  if (!validate(data)) for (const e of validate.errors ?? []) problems.push(describe(e, prefix, data));
}

/** `server.port: must be integer (got "abc")`, `log.level: must be one of fatal, error, ...` */
function describe(e: ErrorObject, prefix: string, root: unknown): string {
  const segments = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let path = [prefix, ...segments].filter(Boolean).join('.');
  const got = (v: unknown) => ` (got ${JSON.stringify(v)})`;
  const value = segments.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
  switch (e.keyword) {
    case 'required':
      return `${[path, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.')}: required`;
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      return `${[path, key].filter(Boolean).join('.')}: unknown key (allowed: ${allowed.join(', ') || 'none'})`;
    }
    case 'enum':
      return `${path}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}${got(value)}`;
    case 'type':
      return `${path}: must be ${(e.params as { type: string }).type}${got(value)}`;
    default:
      path ||= '(root)';
      return `${path}: ${e.message}${got(value)}`;
  }
}
