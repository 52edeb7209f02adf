import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { ROOT } from '../scripts/paths.ts';

/** The dependency rules of the architecture, checked on every import in the tree. */
const s = suite('architecture: dependency rules');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.(ts|mjs)$/.test(name) ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)].map((m) => relative(ROOT, resolve(dirname(file), m[1])));
}

function violations(dir: string, rule: (from: string, to: string) => string | undefined): string[] {
  return files(resolve(ROOT, dir)).flatMap((file) => {
    const from = relative(ROOT, file);
    return imports(file).map((to) => rule(from, to)).filter((v): v is string => Boolean(v));
  });
}

s('kernel/ imports no adapter and no plugin', () => {
  assert.equal(violations('kernel', (from, to) => (/^(adapters|plugins)\//.test(to) ? `${from} -> ${to}` : undefined)), []);
});

s('adapters/ import their port and client, never plugins/', () => {
  assert.equal(violations('adapters', (from, to) => (to.startsWith('plugins/') ? `${from} -> ${to}` : undefined)), []);
});

s("plugins/ never import adapters/ or another plugin's internals", () => {
  assert.equal(violations('plugins', (from, to) => {
    if (to.startsWith('adapters/')) return `${from} -> ${to}`;
    const [, own] = from.split('/');
    const m = /^plugins\/([^/]+)\/(.+)$/.exec(to);
    if (m && m[1] !== own && m[2] !== 'api.ts') return `${from} -> ${to}`;
    return undefined;
  }), []);
});

s('plugins reach the kernel only through its plugin API, ports and errors', () => {
  assert.equal(violations('plugins', (from, to) => {
    if (!to.startsWith('kernel/')) return undefined;
    return /^kernel\/(index\.ts|errors\.ts|ports\/)/.test(to) ? undefined : `${from} -> ${to}`;
  }), []);
});

s.run();
