/**
 * Error formats for paths that match no operation (a 404 has no operation to carry `x-error-format`): a plugin
 * claims a path prefix for one of the formats (`errorFormatPaths: { '/v1': 'openai' }` in definePlugin). A request
 * under the prefix that matches nothing is rendered in that format, unless its first segment below the prefix is
 * one that another plugin's operations use (`/v1/notes/nope` stays the deployment's when notes serves `/v1/notes`,
 * while `/v1/nowhere` is the claimant's). The kernel knows no format and no domain: only prefixes and segments.
 */
import type { ErrorRenderer } from './errorFormat.ts';

export type UnmatchedFormat = (path: string) => ErrorRenderer | undefined;

interface Claim { prefix: string; plugin: string; render: ErrorRenderer; others: Set<string> }

export function unmatchedFormats(
  plugins: ReadonlyArray<{ name: string; errorFormatPaths?: Record<string, string> }>,
  formats: Map<string, ErrorRenderer>,
  operations: ReadonlyArray<{ plugin: string; path: string }>,
): UnmatchedFormat | undefined {
  const claims: Claim[] = [];
  for (const p of plugins) {
    for (const [prefix, name] of Object.entries(p.errorFormatPaths ?? {})) {
      if (!/^\/[^{}?#]*[^/]$/.test(prefix)) throw new Error(`${p.name}: errorFormatPaths prefix "${prefix}" must be a /path`);
      const render = formats.get(name);
      if (!render) throw new Error(`${p.name}: errorFormatPaths names "${name}", which no enabled plugin registers`);
      const taken = claims.find((c) => c.prefix === prefix);
      if (taken) throw new Error(`Path prefix "${prefix}" is claimed for errors by both ${taken.plugin} and ${p.name}`);
      claims.push({ prefix, plugin: p.name, render, others: new Set() });
    }
  }
  if (!claims.length) return undefined;
  for (const c of claims) {
    for (const op of operations) {
      const seg = firstSegment(op.path, c.prefix);
      if (seg !== undefined && op.plugin !== c.plugin) c.others.add(seg.startsWith('{') ? '*' : seg);
    }
  }
  claims.sort((a, b) => b.prefix.length - a.prefix.length); // the longest prefix decides
  return (path) => {
    for (const c of claims) {
      const seg = firstSegment(path, c.prefix);
      if (seg === undefined) continue;
      return c.others.has(seg) || c.others.has('*') ? undefined : c.render;
    }
    return undefined;
  };
}

/** The segment right below `prefix` ('' for the prefix itself), or undefined when `path` is not under it. */
function firstSegment(path: string, prefix: string): string | undefined {
  if (path === prefix || path === `${prefix}/`) return '';
  if (!path.startsWith(`${prefix}/`)) return undefined;
  const rest = path.slice(prefix.length + 1);
  const cut = rest.indexOf('/');
  return cut < 0 ? rest : rest.slice(0, cut);
}
