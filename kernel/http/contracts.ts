import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { OpenAPIV3_1 } from 'openapi-types';
import type { PluginDefinition } from '../plugin.ts';
import { BootError } from '../config/problems.ts';
import type { RouteControl } from '../config/routeControl.ts';
import { namespaceComponents } from './namespaces.ts';

export type OpenApiDocument = OpenAPIV3_1.Document;
export type OperationObject = OpenAPIV3_1.OperationObject & {
  'x-permissions'?: string[];
  'x-rate-limit'?: unknown;
  /** The answer carries secrets: sent with `Cache-Control: no-store`. */
  'x-sensitive'?: boolean;
  /** The body as received is kept beside the parsed one (`req.rawBody`), for signed webhooks. */
  'x-raw-body'?: boolean;
};

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** One operation of the merged contract, with where it is served and who owns it. */
export interface OperationEntry {
  plugin: string;
  operationId: string;
  method: HttpMethod;
  /** OpenAPI path as served, e.g. `/v1/notes/{id}`. */
  path: string;
  operation: OperationObject;
  /** Parameters from the path item and the operation, refs resolved. */
  parameters: OpenAPIV3_1.ParameterObject[];
  /** The contract file that declares it, relative to the contracts directory. */
  file?: string;
}

export interface MergedContract {
  document: OpenApiDocument;
  operations: OperationEntry[];
  /** Operations a deployment turned off (`routes: false`, `operations.exclude`): their handlers are not served. */
  dropped?: string[];
}

/**
 * Merges `common.yaml` and each enabled plugin's contract into one OpenAPI 3.1 document
 * for the deployment. Paths get `basePath` unless the plugin is mounted at the root.
 * Fails the boot naming both claimants on a duplicated operationId, path or component.
 */
export function mergeContracts(options: {
  contractsDir: string;
  plugins: PluginDefinition[];
  basePath: string;
  title: string;
  version: string;
  /** Per plugin: `routes: false`, `mount`, `operations.exclude` (from `plugins.<name>`). */
  control?: Record<string, RouteControl>;
  /** Moves a served path (the health path), before collisions are checked. */
  relocate?: (plugin: string, servedPath: string) => string;
}): MergedContract {
  const problems: string[] = [];
  const common = readContract(resolve(options.contractsDir, 'common.yaml'), problems) ?? {};
  const document: OpenApiDocument = {
    openapi: '3.1.0',
    info: { title: options.title, version: options.version },
    servers: [{ url: '/' }],
    paths: {},
    components: structuredClone(common.components ?? {}),
    tags: [],
  };
  const componentOwner = new Map<string, string>();
  for (const [kind, entries] of Object.entries(document.components ?? {})) {
    for (const name of Object.keys(entries ?? {})) componentOwner.set(`${kind}.${name}`, 'common.yaml');
  }
  const operations: OperationEntry[] = [];
  const opOwner = new Map<string, string>();
  const pathOwner = new Map<string, string>();
  const dropped: string[] = [];

  for (const plugin of options.plugins) {
    if (plugin.contract === false) continue;
    const control = options.control?.[plugin.name] ?? {};
    const exclude = new Set(control.operations?.exclude ?? []);
    const known = new Set<string>();
    const owned = (plugin.entities ?? []).some((e) => e.ownedBy);
    const files = plugin.contract === undefined ? [`${plugin.name}.yaml`] : [plugin.contract].flat();
    for (const file of files) {
      const path = resolve(options.contractsDir, file);
      if (!existsSync(path)) {
        if (plugin.contract || Object.keys(plugin.handlers ?? {}).length)
          problems.push(`plugin ${plugin.name}: contract file not found: contracts/${file}`);
        continue;
      }
      const read = readContract(path, problems);
      if (!read) continue;
      const doc = namespaceComponents(read, plugin.name);
      for (const tag of doc.tags ?? []) document.tags!.push(tag);
      for (const [kind, entries] of Object.entries(doc.components ?? {})) {
        const target = ((document.components as Record<string, Record<string, unknown>>)[kind] ??= {});
        for (const [name, value] of Object.entries(entries ?? {})) {
          const key = `${kind}.${name}`;
          const owner = componentOwner.get(key);
          if (owner && JSON.stringify(target[name]) !== JSON.stringify(value)) {
            problems.push(`components.${key}: defined by both ${owner} and ${file}`);
            continue;
          }
          componentOwner.set(key, owner ?? file);
          target[name] = value;
        }
      }
      for (const [rawPath, declared] of Object.entries(doc.paths ?? {})) {
        const item = withoutDropped(declared, control.routes === false ? undefined : exclude, known, dropped);
        if (!item) continue;
        // `x-root: true` on a path item serves it at the root (well-known documents).
        const prefix =
          plugin.mountAtRoot || (item as { 'x-root'?: boolean })?.['x-root'] ? '' : (control.mount ?? options.basePath);
        const joined = `${prefix}${rawPath}` || '/';
        const servedPath = options.relocate ? options.relocate(plugin.name, joined) : joined;
        const routeKey = servedPath.replace(/\{[^}]+\}/g, '{}');
        const previous = pathOwner.get(routeKey);
        if (previous && previous !== plugin.name)
          problems.push(`path ${servedPath}: claimed by plugins ${previous} and ${plugin.name}`);
        pathOwner.set(routeKey, plugin.name);
        document.paths![servedPath] = item;
        const shared = (item?.parameters ?? []) as OpenAPIV3_1.ParameterObject[];
        for (const method of HTTP_METHODS) {
          const operation = item?.[method] as OperationObject | undefined;
          if (!operation) continue;
          const id = operation.operationId;
          if (!id) { problems.push(`${file}: ${method.toUpperCase()} ${rawPath} has no operationId`); continue; }
          const claimant = opOwner.get(id);
          if (claimant) {
            problems.push(`operationId ${id}: claimed by plugins ${claimant} and ${plugin.name}`);
            continue;
          }
          opOwner.set(id, plugin.name);
          // A file's top-level `security` is its operations' default (the merged document has none).
          if (doc.security && operation.security === undefined) operation.security = doc.security;
          // A plugin with owned entities serves users: `x-principal: [user]` unless its contract says otherwise.
          const secured = (operation.security ?? []).some((r) => Object.keys(r).length > 0);
          if (owned && secured && !('x-principal' in operation)) Object.assign(operation, { 'x-principal': ['user'] });
          operations.push({
            plugin: plugin.name,
            operationId: id,
            method,
            path: servedPath,
            operation,
            parameters: [],
            file,
          });
        }
        for (const op of operations.filter((o) => o.path === servedPath && o.plugin === plugin.name)) {
          op.parameters = mergeParameters(
            shared,
            (op.operation.parameters ?? []) as OpenAPIV3_1.ParameterObject[],
            document,
          );
        }
      }
    }
    for (const id of exclude)
      if (!known.has(id))
        problems.push(`plugins.${plugin.name}.operations.exclude: ${id} is not an operation of plugin ${plugin.name}`);
  }
  if (problems.length) throw new BootError(problems);
  return { document, operations, dropped };
}

/**
 * The path item without the operations a deployment turned off (`exclude` undefined: all),
 * or undefined when none is left.
 */
function withoutDropped(item: any, exclude: Set<string> | undefined, known: Set<string>, dropped: string[]): any {
  let kept = item;
  let left = 0;
  for (const method of HTTP_METHODS) {
    const id = item?.[method]?.operationId as string | undefined;
    if (!item?.[method]) continue;
    if (id) known.add(id);
    if (exclude && !(id && exclude.has(id))) { left++; continue; }
    if (kept === item) kept = { ...item };
    delete kept[method];
    if (id) dropped.push(id);
  }
  return left ? kept : undefined;
}

function readContract(path: string, problems: string[]): Partial<OpenApiDocument> | undefined {
  try {
    return parseYaml(readFileSync(path, 'utf8')) as Partial<OpenApiDocument>;
  } catch (e) {
    problems.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

/** Resolves a local `#/components/...` reference in the merged document. */
export function resolveRef<T>(document: OpenApiDocument, value: T | OpenAPIV3_1.ReferenceObject): T {
  let node: any = value;
  for (let depth = 0; node && typeof node.$ref === 'string' && depth < 10; depth++) {
    const segments = node.$ref.replace(/^#\//, '').split('/')
      .map((s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    node = segments.reduce((n: any, k: string) => n?.[k], document);
  }
  return node as T;
}

export function mergeParameters(
  shared: unknown[],
  own: unknown[],
  document: OpenApiDocument,
): OpenAPIV3_1.ParameterObject[] {
  const byKey = new Map<string, OpenAPIV3_1.ParameterObject>();
  for (const p of [...shared, ...own].map((p) => resolveRef<OpenAPIV3_1.ParameterObject>(document, p as any))) {
    if (p) byKey.set(`${p.in}:${p.name}`, p);
  }
  return [...byKey.values()];
}
