import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml, parseDocument } from 'yaml';
import { interpolate, type InterpolationProblem } from './interpolate.ts';
import { deepMerge, setPath } from './merge.ts';

export interface LoadOptions {
  /** Directory holding default.yaml. */
  configDir: string;
  /** Deployment file (`--config FILE` or KERNEL_CONFIG). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra overrides applied last (tests). */
  overrides?: Record<string, unknown>;
}

/** Environment variables that map onto config paths. `KERNEL_A__B=x` sets `a.b` (case kept after the prefix). */
const ENV_SHORTCUTS: Record<string, string[]> = {
  PORT: ['server', 'port'],
  LOG_LEVEL: ['log', 'level'],
};

export interface RawConfig {
  raw: Record<string, unknown>;
  /** Unreadable files and unset variables, reported together with the schema's problems. */
  problems: Array<{ path: string; message: string }>;
}

/**
 * Reads default.yaml, then the deployment file, then environment variables, and
 * interpolates `${VAR}` in the file layers. Returns the raw (not yet validated) config.
 */
export function loadRawConfig(options: LoadOptions): RawConfig {
  const env = options.env ?? process.env;
  const problems: RawConfig['problems'] = [];
  const layers: Array<{ source: string; data: unknown }> = [];

  const defaultFile = resolve(options.configDir, 'default.yaml');
  layers.push({ source: defaultFile, data: readYaml(defaultFile, problems) });
  const deployment = options.file ?? env.KERNEL_CONFIG;
  if (deployment) {
    const path = resolve(deployment);
    if (!existsSync(path)) problems.push({ path: '--config', message: `file not found: ${deployment}` });
    else layers.push({ source: path, data: readYaml(path, problems) });
  }

  let merged: Record<string, unknown> = {};
  for (const layer of layers) {
    const missing: InterpolationProblem[] = [];
    const data = interpolate(layer.data ?? {}, env, '', missing);
    for (const m of missing)
      problems.push({
        path: m.path,
        message: `environment variable ${m.variable} is not set (in ${layer.source}; give a default with \${${m.variable}:-value})`,
      });
    merged = deepMerge(merged, data);
  }

  for (const [name, path] of Object.entries(ENV_SHORTCUTS)) {
    if (env[name] !== undefined && env[name] !== '') setPath(merged, path, parseScalar(env[name]!));
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('KERNEL_') || name === 'KERNEL_CONFIG' || value === undefined) continue;
    const path = name.slice('KERNEL_'.length).split('__').map(camelFromEnv);
    setPath(merged, path, parseScalar(value));
  }
  if (options.overrides) merged = deepMerge(merged, options.overrides);
  return { raw: merged, problems };
}

function readYaml(path: string, problems: RawConfig['problems']): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    problems.push({ path, message: `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
    return {};
  }
  const doc = parseDocument(text);
  if (doc.errors.length) {
    for (const err of doc.errors) problems.push({ path, message: err.message.split('\n')[0] });
    return {};
  }
  return doc.toJS() ?? {};
}

/** Env values are YAML scalars: `3000` is a number, `true` a boolean, `[a, b]` a list. */
function parseScalar(value: string): unknown {
  try {
    return parseYaml(value);
  } catch {
    return value;
  }
}

/** `DATABASE__MIGRATE` -> `database.migrate`; `SERVER__BASE_PATH` -> `server.basePath`. */
function camelFromEnv(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
