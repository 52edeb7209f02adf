import type { KernelConfig } from './config/schema.ts';
import type { Catalogs } from './config/validate.ts';
import type { PluginDefinition } from './plugin.ts';
import { BootError } from './config/problems.ts';
import { mergeContracts, type MergedContract } from './http/contracts.ts';
import { splitRouteControl } from './config/routeControl.ts';
import { healthRelocation } from './health.ts';
import { eventProblems } from './events/declared.ts';
import { principalProblems } from './http/principalTypes.ts';

export interface KernelPlan {
  /** Enabled plugins in start order (dependencies first). */
  plugins: PluginDefinition[];
  /** port -> adapter name */
  adapters: Record<string, string>;
  contract: MergedContract;
  routes: Array<{ method: string; path: string; operationId: string; plugin: string }>;
}

/**
 * Resolves a deployment without any I/O beyond reading its contract files: the plugin
 * graph, the adapters and the routes. Every wiring mistake is a BootError naming the culprits.
 */
export function planKernel(
  config: KernelConfig,
  catalogs: Catalogs,
  options: { contractsDir: string; version: string },
): KernelPlan {
  const enabled = Object.entries(config.plugins)
    .filter(([, section]) => section.enabled !== false)
    .map(([name]) => catalogs.plugins[name]);
  const plugins = startOrder(enabled, catalogs);
  const contract = mergeContracts({
    contractsDir: options.contractsDir,
    plugins,
    basePath: config.server.basePath,
    title: config.server.docs.title ?? config.name,
    version: options.version,
    control: Object.fromEntries(plugins.map((p) => [p.name, splitRouteControl(config.plugins[p.name] ?? {}).control])),
    relocate: healthRelocation(config),
  });
  checkHandlers(plugins, contract);
  const eventIssues = eventProblems(plugins);
  if (eventIssues.length) throw new BootError(eventIssues);
  const adapters = Object.fromEntries(Object.entries(config.adapters).map(([port, section]) => [port, section.use]));
  const routes = contract.operations.map((o) => ({
    method: o.method.toUpperCase(),
    path: o.path,
    operationId: o.operationId,
    plugin: o.plugin,
  }));
  return { plugins, adapters, contract, routes };
}

/** Topological order; a missing or cyclic dependency is a BootError naming the plugins. */
export function startOrder(plugins: PluginDefinition[], catalogs: Catalogs): PluginDefinition[] {
  const byName = new Map(plugins.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const p of plugins) {
    for (const dep of p.requires ?? []) {
      if (byName.has(dep)) continue;
      problems.push(
        catalogs.plugins[dep]
          ? `plugin ${p.name} requires plugin ${dep}, which is not enabled (set plugins.${dep}.enabled: true)`
          : `plugin ${p.name} requires plugin ${dep}, which does not exist `
            + `(available: ${Object.keys(catalogs.plugins).join(', ')})`,
      );
    }
  }
  if (problems.length) throw new BootError(problems);

  const ordered: PluginDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: PluginDefinition, trail: string[]) => {
    if (state.get(p.name) === 'done') return;
    if (state.get(p.name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(p.name)), p.name];
      throw new BootError([`plugin dependency cycle: ${cycle.join(' -> ')}`]);
    }
    state.set(p.name, 'visiting');
    for (const dep of p.requires ?? []) visit(byName.get(dep)!, [...trail, p.name]);
    state.set(p.name, 'done');
    ordered.push(p);
  };
  for (const p of [...plugins].sort((a, b) => a.name.localeCompare(b.name))) visit(p, []);
  return ordered;
}

function checkHandlers(plugins: PluginDefinition[], contract: MergedContract) {
  const problems: string[] = [];
  const provided = new Map<string, string>();
  for (const p of plugins) {
    for (const scheme of Object.keys(p.authSchemes ?? {})) {
      if (provided.has(scheme))
        problems.push(`security scheme ${scheme}: provided by plugins ${provided.get(scheme)} and ${p.name}`);
      provided.set(scheme, p.name);
    }
  }
  const declared = contract.document.components?.securitySchemes ?? {};
  for (const op of contract.operations) {
    for (const requirement of op.operation.security ?? contract.document.security ?? []) {
      for (const scheme of Object.keys(requirement)) {
        if (!(scheme in declared))
          problems.push(`${op.operationId}: security scheme ${scheme} is not declared in components.securitySchemes`);
        else if (!provided.has(scheme))
          problems.push(
            `${op.operationId}: security scheme ${scheme} has no provider `
              + '(enable the plugin that authenticates it, e.g. identity)',
          );
      }
    }
  }
  problems.push(...unscopedOperations(contract));
  problems.push(...principalProblems(plugins, contract));
  const owned = new Map(contract.operations.map((o) => [o.operationId, o]));
  const dropped = new Set(contract.dropped ?? []);
  for (const op of contract.operations) {
    if (!op.operationId.startsWith(`${op.plugin}.`))
      problems.push(
        `operationId ${op.operationId} (${op.method.toUpperCase()} ${op.path}) must start with "${op.plugin}." `
          + `because plugin ${op.plugin} serves it`,
      );
    const plugin = plugins.find((p) => p.name === op.plugin)!;
    if (!plugin.handlers?.[op.operationId])
      problems.push(
        `operationId ${op.operationId} (${op.method.toUpperCase()} ${op.path}) has no handler in plugin ${op.plugin}`,
      );
  }
  for (const plugin of plugins) {
    for (const id of Object.keys(plugin.handlers ?? {})) {
      const op = owned.get(id);
      if (!op && dropped.has(id)) continue;
      if (!op) problems.push(`plugin ${plugin.name} has a handler for ${id}, which no contract operation declares`);
      else if (op.plugin !== plugin.name)
        problems.push(`plugin ${plugin.name} has a handler for ${id}, which plugin ${op.plugin}'s contract declares`);
    }
  }
  if (problems.length) throw new BootError(problems);
}

/**
 * An operation that authenticates must say what it needs: `x-permissions: [...]`, or
 * `x-permissions: []` for "any signed-in principal". Without it every credential, however
 * narrow (a zero-scope key, a `profile:read` OAuth token), would pass.
 */
export function unscopedOperations(contract: MergedContract): string[] {
  const problems: string[] = [];
  for (const op of contract.operations) {
    const requirements = op.operation.security ?? contract.document.security ?? [];
    const authenticates = requirements.some((r) => Object.keys(r).length > 0);
    const permissions = op.operation['x-permissions'];
    if (authenticates && permissions === undefined) {
      problems.push(
        `${op.operationId} (${op.method.toUpperCase()} ${op.path}, contracts/${op.file ?? `${op.plugin}.yaml`}): `
          + 'has security but no x-permissions; list what it needs, or x-permissions: [] for any signed-in principal',
      );
    } else if (
      permissions !== undefined &&
      !(Array.isArray(permissions) && permissions.every((p) => typeof p === 'string'))
    ) {
      problems.push(
        `${op.operationId} (contracts/${op.file ?? `${op.plugin}.yaml`}): `
          + 'x-permissions must be a list of permission names',
      );
    }
  }
  return problems;
}

/** More lines than this for one plugin in a section are folded to a count (`--verbose` lists them). */
const FOLD_OVER = 8;

/**
 * The plan as `npm run cli -- plan` prints it: database, adapters, plugins, routes, declared
 * events, subscribers and permissions, each section grouped by plugin; a plugin's lines are
 * folded to `identity: 38 routes` unless `verbose`. A section with nothing in it is left out.
 */
export function renderPlan(plan: KernelPlan, options: { name: string; database: string; verbose?: boolean }): string {
  const out: string[] = [`deployment: ${options.name}`, `database: ${options.database}`, 'adapters:'];
  for (const [port, name] of Object.entries(plan.adapters)) out.push(`  ${port}: ${name}`);
  out.push('plugins (start order):');
  for (const p of plan.plugins) {
    out.push(`  ${p.name}@${p.version}${p.requires?.length ? ` requires ${p.requires.join(', ')}` : ''}`);
  }
  const section = (title: string, noun: string, lines: (p: PluginDefinition) => string[]) => {
    const groups = plan.plugins.map((p) => ({ plugin: p.name, lines: lines(p) })).filter((g) => g.lines.length);
    if (!groups.length) return;
    out.push(`${title}:`);
    for (const g of groups) {
      const fold = !options.verbose && g.lines.length > FOLD_OVER;
      if (fold) out.push(`  ${g.plugin}: ${g.lines.length} ${noun} (--verbose lists them)`);
      else out.push(`  ${g.plugin}:`, ...g.lines.map((l) => `    ${l}`));
    }
  };
  section('routes', 'routes', (p) => plan.routes.filter((r) => r.plugin === p.name)
    .map((r) => `${r.method.padEnd(7)}${r.path.padEnd(40)} ${r.operationId}`));
  section('events (declared)', 'events', (p) => (p.events ?? []).map((e) => e.name));
  section('subscribers', 'subscribers', (p) => (p.subscribers ?? [])
    .map((s) => `${`${p.name}.${s.name}`.padEnd(44)} <- ${s.event}${s.idempotent ? ' (idempotent)' : ''}`));
  section('permissions', 'permissions', (p) => (p.permissions ?? [])
    .map((perm) => `${perm.name.padEnd(30)} ${perm.roles?.length ? `roles: ${perm.roles.join(', ')}` : ''}`.trimEnd()));
  section('jobs', 'jobs', (p) => Object.entries(p.jobs ?? {}).map(([type, j]) => `${type.padEnd(44)} ${[
    `concurrency ${j.concurrency ?? 4}`, `retries ${j.retries ?? 2}`, j.timeoutMs ? `timeout ${j.timeoutMs} ms` : '',
    j.public ? 'public' : '', j.stages ? `stages ${Object.keys(j.stages).join(' > ')}` : '',
  ].filter(Boolean).join(', ')}`));
  section('schedules', 'schedules', (p) => (p.schedules ?? [])
    .map((sc) => {
      const when = sc.cron ? `cron ${sc.cron}` : `every ${sc.every}`;
      return `${`${p.name}.${sc.name}`.padEnd(44)} ${when} -> ${sc.job}`;
    }));
  out.push('root routes: GET /openapi.json, GET /docs');
  return out.join('\n') + '\n';
}
